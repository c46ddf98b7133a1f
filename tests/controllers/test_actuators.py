"""Actuators: declared directions, a positive effort raises entropy everywhere, outputs within physical limits."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from entropic import Control, Observation
from entropic.control import control_fields, control_limits
from entropic.controllers import ACTUATORS, Actuator, ControllerConfig, build_controller

DECLARED = {"entropy_coeff": +1, "pos_neg_weight": +1, "clip_ratio_high": +1, "kl_loss_coef": +1,
            "top_entropy_quantile": -1, "entropic_alpha": -1, "pos_weight": -1, "neg_weight": +1}


def test_every_control_field_and_the_weight_pair_is_an_actuator_with_a_declared_direction() -> None:
    assert set(ACTUATORS.names()) == set(control_fields()) | {"pos_neg_weight"}
    for name in ACTUATORS.names():
        spec = ACTUATORS.get(name)
        assert spec.direction in (-1, 0, 1) and spec.description
        assert all(f in control_fields() for f in spec.fields)
    for name, direction in DECLARED.items():
        assert ACTUATORS.get(name).direction == direction, name


def test_knob_limits_come_from_control_limits() -> None:
    assert ACTUATORS.get("pos_neg_weight").knob_limits() == (-1.0, 1.0)
    for name in control_fields():
        assert ACTUATORS.get(name).knob_limits() == control_limits(name)


@pytest.mark.parametrize("name", [n for n in ACTUATORS.names() if ACTUATORS.get(n).direction != 0
                                  and n != "off_policy_mask_threshold"])
def test_positive_effort_moves_every_knob_toward_more_entropy(name: str) -> None:
    """A P controller with entropy below its setpoint: each written field moves in its entropy-raising direction."""
    law = {"name": "p", "kp": 0.1, "setpoint": 1.0}
    base = Control()
    controller = build_controller(ControllerConfig.from_dict({"law": law, "actuator": {"name": name}}), 1, base,
                                  dtype=torch.float64)
    control = controller.update(Observation(0, {"entropy/mean": torch.tensor([0.5], dtype=torch.float64)}), base)
    assert float(controller.metrics["controller/output"][0]) == pytest.approx(0.05)
    for field in controller.drives:
        change = float(getattr(control, field)[0]) - getattr(base, field)
        assert change * ACTUATORS.get(field).direction == pytest.approx(0.05), field


def test_weight_pair_and_alpha_mappings() -> None:
    law = {"name": "p", "kp": 1.0, "setpoint": 1.0}
    observation = Observation(0, {"entropy/mean": torch.tensor([0.5, 0.0, 3.0])})
    pair = build_controller(ControllerConfig.from_dict({"law": law, "actuator": {"name": "pos_neg_weight"}}), 3)
    control = pair.update(observation, Control())
    assert control.pos_weight.tolist() == pytest.approx([0.5, 0.0, 2.0])  # u = 0.5, 1 (clipped), -1 (clipped)
    assert control.neg_weight.tolist() == pytest.approx([1.5, 2.0, 0.0])
    alpha = build_controller(ControllerConfig.from_dict({"law": law, "actuator": {"name": "entropic_alpha"}}), 3)
    assert alpha.update(observation, Control()).entropic_alpha.tolist() == pytest.approx([-0.5, -1.0, 1.0])


def test_base_relative_actuators_start_from_the_base_control() -> None:
    law = {"name": "p", "kp": 1.0, "setpoint": 0.5, "output_max": 0.3}
    config = ControllerConfig.from_dict({"law": law, "actuator": {"name": "top_entropy_quantile"}})
    base = Control(top_entropy_quantile=torch.tensor([1.0, 0.6]))
    controller = build_controller(config, 2, base)
    control = controller.update(Observation(0, {"entropy/mean": torch.tensor([0.0, 0.5])}), base)
    assert control.top_entropy_quantile.tolist() == pytest.approx([0.7, 0.6])


efforts = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(u=st.lists(efforts, min_size=3, max_size=3), feedback=st.booleans())
def test_written_values_always_lie_within_physical_limits(u: list[float], feedback: bool) -> None:
    output = torch.tensor(u)
    for name in ACTUATORS.names():
        spec = ACTUATORS.get(name)
        bias = None
        if feedback:
            if spec.direction == 0 or name == "off_policy_mask_threshold":
                continue
            bias = spec.knob_of(Control(), 3, torch.float32, "cpu")
        actuator = Actuator(spec, bias, 3, torch.float32, "cpu")
        clipped = torch.minimum(torch.maximum(output, actuator.low), actuator.high)
        values = actuator.apply(clipped)
        for field, value in values.items():
            low, high = control_limits(field)
            assert bool(((value >= low) & (value <= high)).all()), (name, field, value)
        if name not in ("clip_cov_lb", "clip_cov_ub"):  # their order is a cross-field rule Control enforces itself
            Control().replace(**values)  # Control's own check, open bounds included
        if not any(math.isinf(v) for v in spec.knob_limits()):
            assert bool((actuator.knob(clipped) >= spec.knob_limits()[0]).all())
