"""``entropic-demo`` on a tiny budget: study, transfer and the HTML report, whose path comes last, every image found."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from entropic.tuning.demo import main

TINY_TOY_LM = ["backend.num_digits=1", "backend.n_layer=2", "backend.n_head=2", "backend.n_embd=32",
               "backend.init_accuracy=0.3", "backend.init_entropy=1.2", "backend.pretrain_steps=600",
               "backend.num_train_problems=512", "backend.num_eval_problems=32", "backend.eval_samples=4",
               "backend.num_prompts=4", "backend.group_size=4", "backend.lr=5e-4"]


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(dict(attrs)["src"] or "")


@pytest.mark.filterwarnings("ignore:.*only act when the importance ratio")  # the DAPO baseline, one update a batch
def test_the_demo_tunes_transfers_and_reports_with_every_referenced_image(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toy_lm = ",".join(f"'{o}'" for o in [*TINY_TOY_LM, f"backend.cache_dir={tmp_path / 'cache'}"])
    main(["--out", str(tmp_path), "tune.n_trials=5", "tune.batch_size=5", "tune.seeds=1", "tune.heldout_seeds=1",
          "trainer.steps=40", "tune.report_every=20", "backend.num_prompts=8",
          "transfer.until=toy_lm", "transfer.heldout_seeds=1", "transfer.noise_rollouts=3",
          "transfer.rungs.0.design.operating_point={grid: [0.01, 10.0], points: 4, steps: 120, window: 20}",
          "transfer.rungs.0.design.excitation={warmup: 20, steps: 60, train_runs: 2, held_out_runs: 1,"
          " held_out_steps: false}", "transfer.rungs.0.steps=60",
          f"transfer.rungs.1.overrides=[{toy_lm}]", "transfer.rungs.1.setpoint=1.0", "transfer.rungs.1.steps=20",
          "transfer.rungs.1.design.operating_point={knob: 0.05}",
          "transfer.rungs.1.design.excitation={warmup: 5, steps: 20, amplitudes: [0.05], period: 5, train_runs: 2,"
          " held_out_runs: 1, held_out_steps: false}"])
    page = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert page == (tmp_path / "report.html").resolve() and page.is_file()
    parser = _Images()
    parser.feed(page.read_text())
    assert len(parser.sources) >= 2, "the report shows no plot of the study and of the transfer"
    for source in parser.sources:
        assert (page.parent / source).is_file(), source
    summary = json.loads((tmp_path / "transfer" / "transfer.json").read_text())
    assert [rung["name"] for rung in summary["rungs"]] == ["bandit", "toy_lm"]
    assert set(summary["rungs"][1]["scores"]) == {"transferred", "copied", "dapo"}  # no direct tuning in the demo
    assert "Transfer ladder" in page.read_text()
