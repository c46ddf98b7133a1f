"""Vectorisation over runs, checkpoint round trips, bumpless gain changes, derivative filter, sensor EMA."""

from __future__ import annotations

import copy

import pytest
import torch
import yaml

from entropic import Control, Controller, Observation
from entropic.controllers import METRIC_KEYS, ControllerConfig, build_controller


def _pid(**law) -> ControllerConfig:
    base = {"name": "pid", "kp": 1.0, "ki": 0.2, "kd": 0.5, "setpoint": 1.0, "anti_windup": "clamp",
            "output_min": -0.5, "output_max": 1.5, "rate_limit": 0.4, "derivative_tau": 1.0}
    return ControllerConfig.from_dict({"law": {**base, **law}, "sensor": {"name": "entropy/mean", "ema": 0.3}})


PER_RUN = [_pid(), _pid(kp=2.0, ki=0.3, kd=0.0, setpoint=0.5), _pid(ki=0.0, output_max=0.3, derivative_tau=0.0),
           _pid(kp=0.5, ki=0.5, kd=1.0, rate_limit=0.05, anti_windup="clamp")]


def test_per_run_gains_equal_separate_controllers_exactly(loop) -> None:
    a = torch.tensor([0.9, 0.8, 0.95, 0.7], dtype=torch.float64)
    b = torch.tensor([0.1, 0.5, 0.2, 0.3], dtype=torch.float64)
    batched = build_controller(PER_RUN, num_runs=4, dtype=torch.float64)
    y, u = loop(batched, a, b, steps=80, num_runs=4)
    for r, config in enumerate(PER_RUN):
        y_r, u_r = loop(build_controller(config, num_runs=1, dtype=torch.float64), a[r], b[r], steps=80)
        assert torch.equal(y[:, r], y_r[:, 0]) and torch.equal(u[:, r], u_r[:, 0])


@pytest.mark.parametrize("preset", ["skywork_trl", "entropic_pi_antiwindup", "pi_top_entropy_quantile",
                                    "cosine_schedule"])
def test_per_run_parameters_of_every_law_family_equal_separate_controllers(presets, preset: str) -> None:
    data = yaml.safe_load(presets[preset].read_text())
    numbers = [k for k, v in data["law"].items() if isinstance(v, float) and k != "tracking_gain"]
    configs = []
    for r in range(3):
        # scale every float parameter per run (the schedule's start stays at 1, the knob's upper limit)
        law = {**data["law"], **{k: data["law"][k] * (1 + 0.1 * r) for k in numbers if k != "start"}}
        configs.append(ControllerConfig.from_dict({**data, "law": law}))
    entropies = torch.rand(30, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    batched = build_controller(configs, num_runs=3, dtype=torch.float64)
    singles = [build_controller(c, num_runs=1, dtype=torch.float64) for c in configs]
    for k in range(30):
        together = batched.update(Observation(k, {batched.sensor: entropies[k]}), Control())
        for r, single in enumerate(singles):
            alone = single.update(Observation(k, {single.sensor: entropies[k, r:r + 1]}), Control())
            for name in batched.drives:
                assert torch.equal(getattr(together, name)[r:r + 1], getattr(alone, name)), (k, r, name)
            for key, value in single.metrics.items():
                assert torch.equal(batched.metrics[key][r:r + 1], value) or torch.isnan(value).all(), key


def test_per_run_configs_must_agree_on_what_selects_code() -> None:
    with pytest.raises(ValueError, match="controller.law.anti_windup"):
        build_controller([_pid(), _pid(anti_windup="back_calculation")], num_runs=2)
    with pytest.raises(ValueError, match="num_runs=3"):
        build_controller([_pid(), _pid()], num_runs=3)


def _entropies(steps: int, runs: int) -> torch.Tensor:
    return 0.1 + torch.rand(steps, runs, generator=torch.Generator().manual_seed(1))


def test_every_preset_resumes_from_a_state_dict_exactly(presets) -> None:
    for name, path in presets.items():
        config = ControllerConfig.from_dict(yaml.safe_load(path.read_text()))
        entropies, control = _entropies(20, 3), Control()
        sensor = config.sensor.name
        uninterrupted = build_controller(config, num_runs=3)
        outputs = []
        for k in range(20):
            control = uninterrupted.update(Observation(k, {sensor: entropies[k]}), control)
            if k == 9:
                state, resumed_control = copy.deepcopy(uninterrupted.state_dict()), control
            outputs.append(control)
        resumed = build_controller(config, num_runs=3)
        resumed.load_state_dict(state)
        for k in range(10, 20):
            resumed_control = resumed.update(Observation(k, {sensor: entropies[k]}), resumed_control)
            for field in resumed.drives:
                assert torch.equal(getattr(resumed_control, field), getattr(outputs[k], field)), (name, k, field)


def test_state_dict_holds_changed_gains_and_rejects_another_controller() -> None:
    controller = build_controller(_pid(), num_runs=2)
    controller.update(Observation(0, {"entropy/mean": torch.tensor([0.2, 0.4])}), Control())
    controller.set_gains(kp=[3.0, 4.0])
    restored = build_controller(_pid(), num_runs=2)
    restored.load_state_dict(copy.deepcopy(controller.state_dict()))
    observation = Observation(1, {"entropy/mean": torch.tensor([0.3, 0.5])})
    assert torch.equal(controller.update(observation, Control()).entropy_coeff,
                       restored.update(observation, Control()).entropy_coeff)
    other = build_controller(ControllerConfig.from_dict({"law": {"name": "skywork_adaptive"}}), num_runs=2)
    with pytest.raises(ValueError, match="law"):
        other.load_state_dict(controller.state_dict())
    with pytest.raises(ValueError, match="shape"):
        build_controller(_pid(), num_runs=3).load_state_dict(controller.state_dict())


def test_bumpless_gain_change() -> None:
    law = {"name": "pid", "kp": 1.0, "ki": 0.1, "kd": 0.5, "setpoint": 1.0, "anti_windup": "none"}
    measurements = [0.2, 0.3, 0.35, 0.35, 0.35, 0.35]
    outputs = {}
    for change in (False, True):
        controller = build_controller(ControllerConfig.from_dict({"law": law}), num_runs=1, dtype=torch.float64)
        outputs[change] = []
        for k, y in enumerate(measurements):
            if change and k == 3:
                controller.set_gains(kp=4.0, kd=2.0)
            observation = Observation(k, {"entropy/mean": torch.tensor([y], dtype=torch.float64)})
            outputs[change].append(float(controller.update(observation, Control()).entropy_coeff[0]))
    # with the error held constant, a bumpless change leaves the trajectory exactly as it was
    assert outputs[True][:3] == outputs[False][:3]
    assert outputs[True][3:] == pytest.approx(outputs[False][3:], abs=1e-12)


def test_set_gains_validates() -> None:
    controller = build_controller(ControllerConfig.from_dict({"law": {"name": "p", "kp": 1.0, "setpoint": 0.3}}), 1)
    with pytest.raises(ValueError, match="ki = kd = 0"):
        controller.set_gains(ki=0.1)
    with pytest.raises(ValueError, match="controller.law.kp"):
        controller.set_gains(kp=-1.0)
    with pytest.raises(ValueError, match="no gains"):
        build_controller(ControllerConfig(), 1).set_gains(kp=1.0)


def test_filtered_derivative_on_measurement_closed_form() -> None:
    """Kd = 1, tau = 1 (a = 1/2), ramp y_k = 0.1 k: D_k = -0.1 (1 - 0.5^k); a setpoint step gives no kick."""
    law = {"name": "pid", "kp": 0.0, "ki": 0.0, "kd": 1.0, "derivative_tau": 1.0, "setpoint": None,
           "setpoint_schedule": {"name": "step", "start": 0.0, "milestones": [3], "values": [5.0]}}
    controller = build_controller(ControllerConfig.from_dict({"law": law}), num_runs=1, dtype=torch.float64)
    d = []
    for k in range(8):
        controller.update(Observation(k, {"entropy/mean": torch.tensor([0.1 * k], dtype=torch.float64)}), Control())
        d.append(float(controller.metrics["controller/d"][0]))
    assert d == pytest.approx([-0.1 * (1 - 0.5 ** k) for k in range(8)], abs=1e-12)


def test_sensor_ema() -> None:
    law = {"name": "p", "kp": 1.0, "setpoint": 0.0}
    config = ControllerConfig.from_dict({"law": law, "sensor": {"name": "entropy/pos_adv", "ema": 0.5}})
    controller = build_controller(config, num_runs=1, dtype=torch.float64)
    seen = []
    for k, y in enumerate([1.0, 0.0, 0.0, 1.0]):
        controller.update(Observation(k, {"entropy/pos_adv": torch.tensor([y], dtype=torch.float64)}), Control())
        seen.append(float(controller.metrics["controller/measurement"][0]))
    assert seen == [1.0, 0.5, 0.25, 0.625]
    assert controller.sensor == "entropy/pos_adv"


def test_every_preset_logs_the_standard_metrics_per_run(presets) -> None:
    for name, path in presets.items():
        controller = build_controller(ControllerConfig.from_dict(yaml.safe_load(path.read_text())), num_runs=3)
        assert isinstance(controller, Controller)
        control = controller.update(Observation(0, {controller.sensor: torch.tensor([0.1, 0.2, 0.3])}), Control())
        assert set(METRIC_KEYS) <= set(controller.metrics), name
        assert all(value.shape == (3,) for value in controller.metrics.values()), name
        assert all(getattr(control, f).shape == (3,) for f in controller.drives), name


def test_observation_shape_is_checked() -> None:
    controller = build_controller(_pid(), num_runs=2)
    with pytest.raises(ValueError, match=r"shape \[2\]"):
        controller.update(Observation(0, {"entropy/mean": torch.tensor([0.1, 0.2, 0.3])}), Control())
