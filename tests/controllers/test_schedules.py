"""Open-loop laws (constant, linear, cosine, step, exponential) against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from entropic import Control, Observation
from entropic.controllers import ControllerConfig, build_controller


def _values(law: dict, actuator: str, steps: list[int], field: str | None = None, base: Control | None = None
            ) -> list[float]:
    config = ControllerConfig.from_dict({"law": law, "actuator": {"name": actuator}})
    controller = build_controller(config, num_runs=1, base_control=base, dtype=torch.float64)
    control = base or Control()
    return [float(getattr(controller.update(Observation(k, {}), control), field or actuator)[0]) for k in steps]


def test_linear_decay_and_warm_up() -> None:
    decay = {"name": "linear", "start": 0.01, "end": 0.0, "steps": 10}
    assert _values(decay, "entropy_coeff", [0, 5, 10, 20]) == pytest.approx([0.01, 0.005, 0.0, 0.0], abs=1e-15)
    warm_up = {"name": "linear", "start": 0.0, "end": 0.004, "steps": 4}
    assert _values(warm_up, "kl_loss_coef", [0, 1, 2, 4, 9]) == pytest.approx([0, 0.001, 0.002, 0.004, 0.004])


def test_cosine() -> None:
    law = {"name": "cosine", "start": 1.0, "end": 0.2, "steps": 10}
    expected = [1.0, 0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * 0.2)), 0.6, 0.2, 0.2]
    assert _values(law, "top_entropy_quantile", [0, 2, 5, 10, 15]) == pytest.approx(expected, abs=1e-15)


def test_step() -> None:
    law = {"name": "step", "start": 0.2, "milestones": [10, 20], "values": [0.28, 0.3]}
    values = _values(law, "clip_ratio_high", [0, 9, 10, 19, 20, 100])
    assert values == pytest.approx([0.2, 0.2, 0.28, 0.28, 0.3, 0.3], abs=1e-15)


def test_exponential_decay_and_warm_up() -> None:
    decay = {"name": "exponential", "start": 0.01, "end": 0.0, "steps": 100}
    assert _values(decay, "entropy_coeff", [0, 100, 200]) == pytest.approx([0.01, 0.01 / math.e, 0.01 / math.e ** 2])
    warm_up = {"name": "exponential", "start": 0.0, "end": 1.0, "steps": 10}
    assert _values(warm_up, "neg_weight", [0, 10]) == pytest.approx([0.0, 1 - 1 / math.e])


def test_constant_any_knob_and_the_weight_pair() -> None:
    assert _values({"name": "constant", "value": 0.28}, "clip_ratio_high", [0, 7]) == pytest.approx([0.28, 0.28])
    pair = {"name": "constant", "value": 0.9}
    assert _values(pair, "pos_neg_weight", [0], field="pos_weight") == pytest.approx([0.1])
    assert _values(pair, "pos_neg_weight", [0], field="neg_weight") == pytest.approx([1.9])


def test_schedule_values_stay_within_physical_limits_at_open_bounds() -> None:
    law = {"name": "linear", "start": 1.0, "end": 0.0, "steps": 4}  # rho range is (0, 1]
    values = _values(law, "top_entropy_quantile", [0, 2, 4])
    assert values[:2] == pytest.approx([1.0, 0.5]) and 0.0 < values[2] < 1e-300


def test_open_loop_metrics_and_observations() -> None:
    config = ControllerConfig.from_dict({"law": {"name": "linear", "start": 0.0, "end": 1.0, "steps": 2},
                                         "actuator": {"name": "entropy_coeff"}})
    controller = build_controller(config, num_runs=2)
    assert controller.required_observations == ()
    controller.update(Observation(1, {}), Control())
    metrics = controller.metrics
    assert torch.isnan(metrics["controller/measurement"]).all() and torch.isnan(metrics["controller/error"]).all()
    assert torch.equal(metrics["controller/output"], torch.full((2,), 0.5))
    assert torch.equal(metrics["controller/p"], torch.zeros(2))
    controller.update(Observation(2, {"entropy/mean": torch.tensor([0.3, 0.4])}), Control())
    assert torch.equal(controller.metrics["controller/measurement"], torch.tensor([0.3, 0.4]))


def test_scheduled_setpoint_drives_a_pi_law() -> None:
    law = {"name": "pi", "kp": 1.0, "ki": 0.0, "anti_windup": "none", "setpoint": None,
           "setpoint_schedule": {"name": "step", "start": 0.5, "milestones": [3], "values": [0.2]}}
    controller = build_controller(ControllerConfig.from_dict({"law": law}), num_runs=1, dtype=torch.float64)
    setpoints = []
    for k in range(5):
        controller.update(Observation(k, {"entropy/mean": torch.tensor([0.1], dtype=torch.float64)}), Control())
        setpoints.append(float(controller.metrics["controller/setpoint"][0]))
    assert setpoints == pytest.approx([0.5, 0.5, 0.5, 0.2, 0.2])
