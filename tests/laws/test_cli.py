"""entropic-laws end to end on the cheap claims; the whole quick suite is a slow test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from entropic.cli.laws import main
from entropic.laws.claims import CLAIMS
from entropic.laws.predictor import observed_entropy_change
from entropic.laws.records import RunRecords


def run(tmp_path: Path, *args: str) -> dict:
    assert main([*args, "--out", str(tmp_path), "--threads", str(torch.get_num_threads()), "--jobs", "1"]) == 0
    return json.loads((tmp_path / "laws.json").read_text())


def test_list(capsys: pytest.CaptureFixture) -> None:
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert all(claim.name in out for claim in CLAIMS)


def test_bad_claim_name_is_an_error(tmp_path: Path) -> None:
    assert main(["--claims", "nope", "--out", str(tmp_path)]) == 1


def test_report_with_json_markdown_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    report = run(tmp_path, "--quick", "--claims", "nsr_prior,dr_grpo_length")  # quick: no toy-LM arm
    names = [c["name"] for c in report["claims"]]
    assert names == ["nsr_prior", "dr_grpo_length"]
    nsr = report["claims"][0]
    assert nsr["verdict"] == "partly"  # logit step proportional to the prior, ratios moved at first order
    assert {c["name"]: c["outcome"] for c in nsr["checks"]} == {"ratios_fixed_to_first_order": "fail",
                                                                "logit_step_proportional_to_prior": "pass"}
    assert (tmp_path / "plots" / "nsr_prior_drift.png").stat().st_size > 1000
    markdown = (tmp_path / "laws.md").read_text()
    assert "| 1 | An NSR step" in markdown and "plots/nsr_prior_drift.png" in markdown
    assert "**partly**" in capsys.readouterr().out


@pytest.mark.slow
def test_quick_suite_runs_every_claim(tmp_path: Path) -> None:
    assert main(["--quick", "--out", str(tmp_path), "--jobs", "2", "--no-plots"]) == 0
    report = json.loads((tmp_path / "laws.json").read_text())
    assert [c["name"] for c in report["claims"]] == [c.name for c in CLAIMS]
    assert all(c["verdict"] in ("holds", "does not hold", "partly", "pending") for c in report["claims"])


def test_analyse_any_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from entropic.experiment import build_trainer
    from entropic.laws.runner import compose_arm

    cfg = compose_arm("laws_quadrants", ["num_runs=2", "trainer.steps=40", "backend.num_prompts=8"])
    build_trainer(cfg, tmp_path).fit(progress=False)  # a plain run: no laws sensors
    assert main(["--analyse", str(tmp_path)]) == 0
    analysis = json.loads(capsys.readouterr().out)
    assert analysis["num_runs"] == 2 and len(analysis["entropy_reward_fit"]) == 2
    assert analysis["predictor_covariance_sensor"]["correlation"][0] > 0.5
    assert "predictor_pg" not in analysis and "p50" in analysis["final_entropy_percentiles"]
    assert main(["--analyse", str(tmp_path / "nowhere")]) == 1
    records = RunRecords.load(tmp_path)  # the loop's own entropy/delta is the same change, logged a step later
    assert np.allclose(observed_entropy_change(records)[:-1], records["entropy/delta"][1:], atol=1e-6)
