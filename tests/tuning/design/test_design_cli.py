"""entropic-design end to end on a tiny bandit: every file is written and the controller config trains.

The default-size run (and its tracking claim) is the slow test in ``test_design_bandit.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from entropic.experiment import build_trainer
from entropic.tuning.design.cli import main, run_design

TINY = ["backend.num_prompts=8", "backend.group_size=4", "design.horizon=60",
        "design.operating_point.grid=[0.01,10.0]", "design.operating_point.points=4",
        "design.operating_point.steps=30", "design.operating_point.window=10",
        "design.excitation.warmup=20", "design.excitation.steps=40", "design.excitation.period=5",
        "design.excitation.order=5", "design.excitation.train_runs=2", "design.excitation.held_out_runs=1",
        "design.validation.seeds=2", "design.validation.steps=40", "design.validation.from_step=20",
        "design.validation.step_at=20", "design.validation.step_steps=20", "design.validation.step_size=0.1"]


def _config(*overrides: str) -> DictConfig:
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        return compose(config_name="design/default", overrides=[*TINY, *overrides])


def test_design_writes_model_config_plots_and_report(tmp_path: Path) -> None:
    summary = run_design(_config(), tmp_path)
    for name in ("model.json", "summary.json", "design.md", "design.html", "controller/designed.yaml",
                 "identification.png", "bode.png", "step.png", "validation.png"):
        assert (tmp_path / name).is_file(), name
    model = json.loads((tmp_path / "model.json").read_text())
    assert model["identification"]["best"] in ("fopdt", "integrating", "arx")
    assert set(model["identification"]["scores"]) == {"fopdt", "integrating", "arx"}
    assert set(summary["rules"]) == {"simc", "imc", "zn"} and summary["rules"]["simc"]["stable"]
    assert summary["validation"]["tracking"]["seeds"] == 2 and "rmse" in summary["validation"]["step"]
    report = (tmp_path / "design.md").read_text()
    assert "held-out NRMSE" in report and "![validation](validation.png)" in report
    assert "<table>" in (tmp_path / "design.html").read_text()

    # The controller config is a configs/controller/ file: entropic-train takes it from --config-dir.
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"hydra.searchpath=[file://{tmp_path}]", "controller=designed",
                                                      "method=entropy_bonus", "backend.num_prompts=8",
                                                      "trainer.steps=3", "trainer.tensorboard=false"])
    gains = yaml.safe_load((tmp_path / "controller" / "designed.yaml").read_text())["law"]
    assert cfg.controller.law.kp == gains["kp"] and cfg.controller.actuator.bias == summary["operating_point"]["knob"]
    build_trainer(cfg, tmp_path / "train").fit(progress=False)


def test_cli_prints_its_output_directory_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "design"
    argv = ["entropic-design", f"hydra.run.dir={out}", *TINY, "design.operating_point.knob=0.5",
            "design.validation.seeds=0", "design.rule=imc"]
    monkeypatch.setattr(sys, "argv", argv)
    main()
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out)
    assert yaml.safe_load((out / "controller" / "designed.yaml").read_text())["actuator"]["bias"] == 0.5
    assert not (out / "validation.png").exists()


def test_bad_design_config_fails_before_any_run(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="design.rule must be one of"):
        run_design(_config("design.rule=lqr"), tmp_path)
    with pytest.raises(ValueError, match=r"design.target 50 nats is above what this backend's policy can reach"):
        run_design(_config("design.target=50"), tmp_path / "unreachable")
    assert not (tmp_path / "unreachable" / "runs").exists()
    with pytest.raises(ValueError, match="trainer.ppo_epochs=1"):
        run_design(_config("trainer.ppo_epochs=2", "design.operating_point.knob=0.5"), tmp_path)
