"""``entropic-demo`` on a tiny budget: the study runs, the report's path comes last, every image it shows exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from entropic.tuning.demo import main


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")  # the DAPO baseline, one update a batch
def test_the_demo_reports_with_every_referenced_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["--out", str(tmp_path), "tune.n_trials=5", "tune.batch_size=5", "tune.seeds=1", "tune.heldout_seeds=1",
          "trainer.steps=40", "tune.report_every=20", "backend.num_prompts=8"])
    report = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert report == (tmp_path / "report.md").resolve() and report.is_file()
    images = re.findall(r"!\[[^]]*\]\(([^)]+)\)", report.read_text())
    assert images, "the report shows no plot"
    for image in images:
        assert (report.parent / image).is_file(), image
