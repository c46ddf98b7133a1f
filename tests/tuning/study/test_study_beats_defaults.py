"""A study on the bandit finds gains that beat every enqueued default on held-out seeds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_module

from entropic.tuning.study.cli import run_study
from entropic.tuning.study.space import load_preset

pytestmark = pytest.mark.usefixtures("one_thread")


def test_tuned_gains_beat_every_default_on_heldout_seeds(tune_cfg, tmp_path: Path) -> None:
    design = load_preset("controller", "pi_entropy_coeff")  # stands for an analytic (SIMC) design output
    design["law"].update(kp=0.05, ki=0.005, setpoint=0.8)
    (tmp_path / "design" / "controller").mkdir(parents=True)
    (tmp_path / "design" / "controller" / "simc.yaml").write_text(yaml.safe_dump(design))
    cfg = tune_cfg("trainer.steps=100", "tune.n_trials=32", "tune.batch_size=8", "tune.seeds=4", "tune.heldout_seeds=8",
                   "tune.target_entropy=0.8", "tune.report=true", "tune.export=true",
                   f"tune.warm_start.design=[{tmp_path / 'design'}]")
    summary = run_study(cfg, tmp_path / "study")
    heldout = summary["heldout"]
    assert not set(heldout["seeds"]) & set(summary["seeds"]), "held-out seeds differ from the tuning seeds"
    errors = {name: values["tracking_error"] for name, values in heldout["values"].items()}
    assert set(errors) == {"best", "preset", "design:simc", "dapo", "skywork", "entropic"}
    assert summary["best"][0]["baseline"] is None, "the best trial is a sampled one"
    for name, error in errors.items():
        if name != "best":
            assert errors["best"] < error, (name, errors)
    report = Path(summary["report"]).read_text()
    assert "beats the best default" in report
    for png in ("history.png", "importances.png", "trajectories.png"):
        assert (tmp_path / "study" / png).exists()


@pytest.mark.slow
def test_tuned_gains_beat_every_default_on_the_standard_bandit(tmp_path: Path) -> None:
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        cfg = compose(config_name="tune/default", overrides=[
            "trainer.steps=600", "tune.n_trials=44", "tune.batch_size=20", "tune.seeds=3", "tune.heldout_seeds=5",
            "tune.report_every=100", "tune.report=true", "tune.export=false"])
    summary = run_study(cfg, tmp_path)
    errors = {name: values["tracking_error"] for name, values in summary["heldout"]["values"].items()}
    assert set(errors) == {"best", "preset", "dapo", "skywork", "entropic"}
    assert all(errors["best"] < error for name, error in errors.items() if name != "best"), errors
