"""A runaway (the level near the maximum entropy past some knob) bounds the limits and the excitation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from entropic.tuning.design.cli import run_design
from entropic.tuning.sysid import experiment
from entropic.tuning.sysid.experiment import OperatingPoint, sequence_readings


def test_the_first_level_at_the_ceiling_marks_the_runaway_in_the_raising_direction() -> None:
    knobs, levels = np.array([0.02, 0.05, 0.1, 0.2, 0.4]), np.array([0.3, 0.35, 0.4, 3.1, 3.2])
    point = OperatingPoint(0.08, 0.38, direction=1)
    experiment._find_runaway(point, knobs, levels, 1, ceiling=0.9 * 3.4)
    assert point.runaway == 0.2  # 3.1 >= 3.06; 0.4 is past it as well
    limits, amplitude = point.respect_runaway([-0.5, 1.5], 0.1)
    assert limits == [-0.5, 0.2] and amplitude == pytest.approx(0.5 * (0.2 - 0.08))
    # an actuator that lowers entropy as its knob grows: the runaway lies at the small knobs
    falling = OperatingPoint(0.3, 0.38, direction=-1)
    experiment._find_runaway(falling, knobs, levels[::-1].copy(), -1, ceiling=3.06)
    assert falling.runaway == 0.05
    assert falling.respect_runaway(None, 0.2) == ([0.05, math.inf], pytest.approx(0.5 * (0.3 - 0.05)))
    assert OperatingPoint(0.3, 1.0).respect_runaway([0.0, 1.0], 0.1) == ([0.0, 1.0], 0.1)  # no runaway seen
    with pytest.raises(ValueError, match="lies at a runaway"):
        OperatingPoint(0.25, 3.0, runaway=0.2).respect_runaway([0.0, 1.0], 0.1)


def _design(*overrides: str):
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        return compose(config_name="design/default", overrides=[
            "backend.num_prompts=8", "backend.group_size=4", "design.horizon=60", "design.validation.seeds=0",
            "design.operating_point.grid=[0.01,10.0]", "design.operating_point.points=4",
            "design.operating_point.steps=30", "design.operating_point.window=10", "design.excitation.warmup=20",
            "design.excitation.steps=40", "design.excitation.period=5", "design.excitation.order=5",
            "design.excitation.train_runs=2", "design.excitation.held_out_runs=1", *overrides])


def test_the_design_caps_its_limits_and_excitation_below_a_runaway(tmp_path: Path) -> None:
    # A bonus of 10 drives the bandit's policy uniform (3.47 nats): with the ceiling at 0.5 of it, 10 is a runaway.
    summary = run_design(_design("design.operating_point.runaway=0.5", "design.target=1.0"), tmp_path)
    point = summary["operating_point"]
    assert point["runaway"] is not None and point["knob"] < point["runaway"]
    assert summary["design"]["limits"][1] == point["runaway"]
    assert summary["design"]["excitation"]["amplitudes"][0] <= 0.5 * (point["runaway"] - point["knob"]) + 1e-12
    assert "**Runaway**" in (tmp_path / "design.md").read_text()


def test_columns_apart_equal_the_batched_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _design()
    knobs = np.array([[0.1, 0.5, 1.0]] * 6) + np.linspace(0, 0.1, 6)[:, None]
    batched = sequence_readings(cfg, tmp_path / "batched", seed=5, actuator="entropy_coeff", knobs=knobs,
                                sensor="entropy/mean")
    monkeypatch.setattr(experiment, "max_runs", lambda backend: 1)  # as the LLM backend declares
    apart = sequence_readings(cfg, tmp_path / "apart", seed=5, actuator="entropy_coeff", knobs=knobs,
                              sensor="entropy/mean")
    np.testing.assert_array_equal(apart, batched)  # the bandit's runs are independent: bit for bit
    assert sorted(p.name for p in (tmp_path / "apart").iterdir()) == ["run_0", "run_1", "run_2"]
