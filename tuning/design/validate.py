"""Closed-loop validation of a designed controller on the backend, against the python-control prediction.

Two experiments, R = ``design.validation.seeds`` runs each (seeds ``seed + 200 + r``):

- *tracking*: the designed controller config, unchanged, for ``validation.steps`` steps from the
  backend's initial state, and the uncontrolled baseline (base control, no controller) on the
  same seeds. A run holds the target when ``|y - target| <= band * target`` at every step from
  ``from_step`` to the end.
- *setpoint step*: the same gains with the setpoint moving from ``target`` to
  ``target + step_size`` at step ``step_at``. The prediction is ``target + step_size * s_j`` at step
  ``step_at + j``, ``s`` the closed loop's unit-step response from python-control; overshoot and
  settling of the mean measured response come from ``control.step_info`` on the same footing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import control as ct
import numpy as np
import torch
from omegaconf import DictConfig

from entropic.controllers import ACTUATORS
from entropic.metrics.tracking import max_relative_error, within_band
from entropic.tuning.design.config import DesignConfig
from entropic.tuning.design.loop_model import LoopAnalysis, response_info
from entropic.tuning.sysid.experiment import design_trainer, run_sequence

__all__ = ["StepTest", "Tracking", "step_test_response", "tracking_response"]

VALIDATION_SEED_OFFSET = 200
"""Validation runs use seeds ``seed + 200 + r``."""


def _knob_metric(actuator: str) -> tuple[str, float, float]:
    spec = ACTUATORS.get(actuator)
    return f"control/{spec.fields[0]}", spec.offsets[0], spec.slopes[0]


def _closed_loop_runs(cfg: DictConfig, design: DesignConfig, controller: dict | None, output_dir: Path, steps: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Sensor and knob ``[steps, R]`` of ``controller`` (``None``: base control) on the validation seeds."""
    metric, offset, slope = _knob_metric(design.actuator)
    trainer = design_trainer(cfg, output_dir, num_runs=design.validation.seeds,
                             seed=int(cfg.seed) + VALIDATION_SEED_OFFSET, controller=controller, steps=steps)
    y, field_value = run_sequence(trainer, None, design.sensor, steps, extra=(metric,))
    return y, (field_value - offset) / slope


@dataclass
class Tracking:
    """The designed controller against the uncontrolled baseline over ``validation.steps`` steps.

    Attributes
    ----------
    y, knob : numpy.ndarray
        ``[K, R]`` sensor and knob of the controlled runs.
    baseline : numpy.ndarray
        ``[K, R]`` sensor of the uncontrolled runs (same seeds).
    in_band : list of bool
        Per seed: within ``band`` of the target at every step from ``from_step`` on.
    max_deviation : list of float
        Per seed: largest ``|y - target| / target`` from ``from_step`` on.
    """

    target: float
    band: float
    from_step: int
    y: np.ndarray
    knob: np.ndarray
    baseline: np.ndarray
    in_band: list[bool]
    max_deviation: list[float]

    @property
    def passed(self) -> int:
        """Seeds that hold the target."""
        return int(sum(self.in_band))

    def to_dict(self) -> dict:
        """JSON-ready summary (no trajectories)."""
        return {"target": self.target, "band": self.band, "from_step": self.from_step, "steps": int(self.y.shape[0]),
                "seeds_in_band": self.passed, "seeds": int(self.y.shape[1]), "in_band": self.in_band,
                "max_relative_deviation": self.max_deviation,
                "final_knob": self.knob[-1].tolist(), "baseline_final": self.baseline[-1].tolist(),
                "baseline_final_max_over_target": float(self.baseline[-1].max() / self.target)}


def tracking_response(cfg: DictConfig, design: DesignConfig, controller: dict, output_dir: str | Path) -> Tracking:
    """Run the designed controller and the uncontrolled baseline; score the band criterion."""
    v = design.validation
    y, knob = _closed_loop_runs(cfg, design, controller, Path(output_dir) / "tracking", v.steps)
    baseline, _ = _closed_loop_runs(cfg, design, None, Path(output_dir) / "uncontrolled", v.steps)
    trajectory = torch.as_tensor(y)
    in_band = within_band(trajectory, design.target, start=v.from_step, tolerance=v.band)
    deviation = max_relative_error(trajectory, design.target, start=v.from_step)
    return Tracking(design.target, v.band, v.from_step, y, knob, baseline, [bool(b) for b in in_band],
                    deviation.tolist())


@dataclass
class StepTest:
    """Predicted and measured response to a setpoint step of ``size`` at step ``at``.

    Attributes
    ----------
    y, knob : numpy.ndarray
        ``[at + n, R]`` sensor and knob of every seed.
    predicted : numpy.ndarray
        ``[n]`` python-control prediction of the sensor from step ``at`` on (absolute, nats).
    predicted_knob : numpy.ndarray
        ``[n]`` predicted knob change from its value at ``at - 1``.
    measured : numpy.ndarray
        ``[n]`` mean over seeds of the measured sensor from step ``at`` on.
    rmse : float
        RMS of ``measured - predicted`` (nats).
    relative_rmse : float
        ``rmse / |size|``.
    predicted_info, measured_info : dict
        ``control.step_info`` of the normalised responses ``(y - target) / size`` (steps, %).
    """

    at: int
    size: float
    target: float
    y: np.ndarray
    knob: np.ndarray
    predicted: np.ndarray
    predicted_knob: np.ndarray
    measured: np.ndarray
    rmse: float
    relative_rmse: float
    predicted_info: dict
    measured_info: dict

    def to_dict(self) -> dict:
        """JSON-ready summary (no trajectories)."""
        ratio = {key: self.measured_info[key] / self.predicted_info[key]
                 for key in ("RiseTime", "SettlingTime", "Overshoot")
                 if self.predicted_info.get(key) and key in self.measured_info}
        return {"at": self.at, "size": self.size, "target": self.target, "steps": int(self.measured.shape[0]),
                "rmse": self.rmse, "relative_rmse": self.relative_rmse, "predicted": self.predicted_info,
                "measured": self.measured_info, "measured_over_predicted": ratio}


def step_test_response(cfg: DictConfig, design: DesignConfig, controller: dict, analysis: LoopAnalysis,
                       output_dir: str | Path) -> StepTest:
    """Run the setpoint-step test and compare it with ``analysis`` (the python-control loop of the same gains)."""
    v = design.validation
    stepped = copy.deepcopy(controller)
    stepped["law"]["setpoint"] = None
    stepped["law"]["setpoint_schedule"] = {"name": "step", "start": design.target, "end": 0.0, "steps": 1,
                                           "milestones": [v.step_at], "values": [design.target + v.step_size]}
    y, knob = _closed_loop_runs(cfg, design, stepped, Path(output_dir) / "setpoint_step", v.step_at + v.step_steps)
    n = v.step_steps
    time = np.arange(n, dtype=float)
    unit = np.squeeze(ct.step_response(analysis.closed_loop, time).outputs)
    unit_effort = np.squeeze(ct.step_response(analysis.effort, time).outputs)
    direction = ACTUATORS.get(design.actuator).direction
    predicted = design.target + v.step_size * unit
    measured = y[v.step_at:].mean(1)
    rmse = float(np.sqrt(np.mean((measured - predicted) ** 2)))
    predicted_info = response_info(unit, time, v.settling_threshold)
    measured_info = response_info((measured - design.target) / v.step_size, time, v.settling_threshold)
    return StepTest(v.step_at, v.step_size, design.target, y, knob, predicted, direction * v.step_size * unit_effort,
                    measured, rmse, rmse / abs(v.step_size), predicted_info, measured_info)
