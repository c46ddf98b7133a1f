"""Controller configs: every preset loads and builds; bad values fail early, naming the field."""

from __future__ import annotations

import pytest
import torch
import yaml
from omegaconf import OmegaConf

from entropic import Control, Observation
from entropic.controllers import (
    CONTROL_LAWS,
    ControllerConfig,
    build_controller,
    controller_config_from_dict,
)

PRESET_NAMES = ["constant", "linear_schedule", "cosine_schedule", "step_schedule", "exponential_schedule",
                "pi_entropy_coeff", "pi_entropy_coeff_designed", "pid_entropy_coeff", "pi_top_entropy_quantile",
                "skywork_trl", "skywork_or1", "entropic_pi", "entropic_pi_antiwindup"]


def test_every_preset_file_is_commented_loads_and_builds(presets) -> None:
    assert sorted(presets) == sorted(PRESET_NAMES)
    for name, path in presets.items():
        text = path.read_text()
        assert text.startswith("#"), name
        config = ControllerConfig.from_dict(yaml.safe_load(text))
        assert controller_config_from_dict(yaml.safe_load(text)) == config
        controller = build_controller(config, num_runs=2, base_control=Control())
        control = controller.update(Observation(0, {config.sensor.name: torch.tensor([0.1, 0.5])}), Control())
        assert controller.sensor == config.sensor.name and controller.law == config.law.name
        assert controller.drives and all(getattr(control, f).shape == (2,) for f in controller.drives)


def test_presets_merge_into_the_structured_schema_as_hydra_does(presets) -> None:
    schema = OmegaConf.structured(ControllerConfig)
    for name, path in presets.items():
        merged = OmegaConf.to_object(OmegaConf.merge(schema, OmegaConf.load(path)))
        assert merged == ControllerConfig.from_dict(yaml.safe_load(path.read_text())), name


def test_default_config_is_no_bonus() -> None:
    controller = build_controller(ControllerConfig(), num_runs=1)
    assert controller.update(Observation(0, {}), Control()).entropy_coeff.tolist() == [0.0]


def test_every_law_name_has_a_config_and_builder() -> None:
    assert CONTROL_LAWS.names() == sorted(["constant", "linear", "cosine", "step", "exponential", "p", "pi", "pid",
                                   "skywork_adaptive", "entropic_pi"])


PI = {"name": "pi", "kp": 0.01, "ki": 0.001, "setpoint": 0.3, "anti_windup": "clamp", "output_min": -0.01,
      "output_max": 0.01}

BAD = [
    ({"law": {**PI, "kp": -1.0}}, "controller.law.kp"),
    ({"law": {**PI, "ki": -0.1}}, "controller.law.ki"),
    ({"law": {**PI, "output_min": 0.02}}, "controller.law.output_min must be <= output_max"),
    ({"law": {**PI, "anti_windup": None}}, r"controller.law.anti_windup must be chosen when ki > 0.*clamp"),
    ({"law": {**PI, "anti_windup": "clip"}}, r"controller.law.anti_windup='clip'.*back_calculation"),
    ({"law": {**PI, "output_min": None, "output_max": None}}, "needs an output limit"),
    ({"law": {**PI, "kd": 0.1}}, "name='pi' needs kd = 0"),
    ({"law": {**PI, "name": "p"}}, "name='p' needs ki = kd = 0"),
    ({"law": {**PI, "setpoint": None}}, "exactly one of setpoint"),
    ({"law": {**PI, "setpoint": -0.1}}, "controller.law.setpoint"),
    ({"law": {**PI, "rate_limit": 0.0}}, "controller.law.rate_limit"),
    ({"law": {**PI, "derivative_tau": -1.0}}, "controller.law.derivative_tau"),
    ({"law": {**PI, "tracking_gain": 2.5}}, "controller.law.tracking_gain"),
    ({"law": {**PI, "kpp": 1.0}}, r"unknown field\(s\) \['kpp'\]"),
    ({"law": {**PI, "name": "pidd"}}, r"controller.law.name='pidd'.*allowed values.*'pid'"),
    ({"law": {"kp": 1.0}}, r"controller.law.name is required.*'pi'"),
    ({"law": {**PI, "name": "linear"}}, r"unknown field"),
    ({"law": PI, "actuator": {"name": "entropy_coef"}}, r"controller.actuator.name='entropy_coef'.*'entropy_coeff'"),
    ({"law": PI, "sensor": {"name": "entropy"}}, r"controller.sensor.name='entropy'.*'entropy/mean'"),
    ({"law": PI, "sensor": {"ema": 1.0}}, "controller.sensor.ema"),
    ({"law": PI, "actuator": {"name": "high_prob_thresh"}}, r"no declared effect on entropy.*'entropy_coeff'"),
    ({"law": {"name": "constant", "value": 1.5}, "actuator": {"name": "top_entropy_quantile"}}, "physical range"),
    ({"law": {"name": "constant", "value": 0.1}, "actuator": {"bias": 0.1}}, "controller.actuator.bias"),
    ({"law": {"name": "linear", "start": 1.0, "end": 0.0, "steps": 0}}, "controller.law.steps"),
    ({"law": {"name": "step", "start": 1.0, "milestones": [5, 3], "values": [1.0, 2.0]}}, "strictly increasing"),
    ({"law": {"name": "step", "start": 1.0, "milestones": [5], "values": []}}, "same length"),
    ({"law": {"name": "cosine", "start": 1.0, "milestones": [5], "values": [1.0]}}, "'step' schedule only"),
    ({"law": {"name": "skywork_adaptive", "coef_min": 0.1, "coef_max": 0.01, "coef_init": 0.05}}, "coef_min"),
    ({"law": {"name": "skywork_adaptive", "coef_init": 2.0}}, "coef_init"),
    ({"law": {"name": "skywork_adaptive", "delta": -0.1}}, "controller.law.delta"),
    ({"law": {"name": "entropic_pi", "integral_scale": 0.0}}, "controller.law.integral_scale"),
    ({"law": {"name": "entropic_pi", "kp": -1.0}}, "controller.law.kp"),
    ({"law": {"name": "entropic_pi", "anti_windup": "maybe"}}, "controller.law.anti_windup"),
    ({"law": {"name": "entropic_pi", "kp": "1"}}, "controller.law.kp"),
]


@pytest.mark.parametrize("data,message", BAD, ids=[m for _, m in BAD])
def test_bad_config_raises_naming_the_field(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ControllerConfig.from_dict(data)


def test_bad_build_arguments_raise() -> None:
    narrow = {**PI, "output_min": 2.0, "output_max": 3.0}  # the weight pair's offset lies in [-1, 1]
    with pytest.raises(ValueError, match="output_min/output_max"):
        build_controller(ControllerConfig.from_dict({"law": narrow, "actuator": {"name": "pos_neg_weight"}}), 1)
    off_policy = ControllerConfig.from_dict({"law": PI, "actuator": {"name": "off_policy_mask_threshold"}})
    with pytest.raises(ValueError, match="controller.actuator.bias"):
        build_controller(off_policy, 1)  # base value inf: no zero-effort knob
    with pytest.raises(ValueError, match="physical range"):
        build_controller(ControllerConfig.from_dict({"law": PI, "actuator": {"name": "pos_neg_weight", "bias": 2.0}}),
                         1)


def test_per_run_lists_become_one_config_per_run() -> None:
    configs = controller_config_from_dict({"law": {**PI, "kp": [0.01, 0.02, 0.03]}})
    assert [c.law.kp for c in configs] == [0.01, 0.02, 0.03]
    step = {"name": "step", "start": 0.2, "milestones": [10], "values": [[0.28], [0.3]]}
    configs = controller_config_from_dict({"law": step, "actuator": {"name": "clip_ratio_high"}})
    assert [c.law.values for c in configs] == [[0.28], [0.3]]
    assert controller_config_from_dict({"law": {**step, "values": [0.28]}}).law.values == [0.28]
    with pytest.raises(ValueError, match="one value per run"):
        controller_config_from_dict({"law": {**PI, "kp": [0.01, 0.02], "ki": [0.001, 0.002, 0.003]}})
    controller = build_controller(controller_config_from_dict({"law": {**PI, "kp": [0.01, 0.02]}}), num_runs=2)
    controller.update(Observation(0, {"entropy/mean": torch.tensor([0.2, 0.2])}), Control())
    assert controller.metrics["controller/p"].tolist() == pytest.approx([0.001, 0.002])
