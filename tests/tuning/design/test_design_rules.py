"""Tuning rules against published and closed-form values; model conversion; the written controller config."""

from __future__ import annotations

import math
from pathlib import Path

import control as ct
import numpy as np
import pytest
import torch
import yaml

from entropic.control import Control
from entropic.controllers import build_controller, controller_config_from_dict
from entropic.protocol import Observation
from entropic.tuning.design.rules import (
    PIDSettings,
    ProcessModel,
    controller_config,
    imc,
    plant_in_effort_units,
    process_model,
    rule_settings,
    simc,
    write_controller_config,
    ziegler_nichols,
)
from entropic.tuning.sysid.models import DiscreteModel

# Skogestad (2003), "Simple analytic rules for model reduction and PID controller tuning", J. Process Control
# 13:291-309, worked half-rule example g0(s) = (-0.3s+1)(0.08s+1) / ((2s+1)(s+1)(0.4s+1)(0.2s+1)(0.05s+1)^3).
# The half rule gives a first-order model k = 1, tau1 = 2.5, theta = 1.47 and a second-order model
# k = 1, tau1 = 2, tau2 = 1.2, theta = 0.77; with tau_c = theta the paper's SIMC settings are
# PI: Kc = 0.85, tauI = 2.5; PID (series form): Kc = 1.30, tauI = 2, tauD = 1.2.
PUBLISHED = [
    (ProcessModel(1.0, 2.5, 1.47), 1.47, (0.85, 2.5, 0.0)),
    (ProcessModel(1.0, 2.0, 0.77, tau2=1.2), 0.77, (1.30, 2.0, 1.2)),
]


@pytest.mark.parametrize(("process", "tau_c", "published"), PUBLISHED, ids=["pi-first-order", "pid-second-order"])
def test_simc_reproduces_skogestads_published_settings(process: ProcessModel, tau_c: float,
                                                       published: tuple[float, float, float]) -> None:
    settings = simc(process, tau_c)
    assert (settings.kc, settings.tau_i, settings.tau_d) == pytest.approx(published, abs=0.005)  # printed digits
    assert settings.form == "series" and settings.rule == "simc"


def test_simc_integrating_rule_with_tight_tuning() -> None:
    # Skogestad (2003): integrating process k' e^(-theta s) / s with tau_c = theta gives Kc = 0.5 / (k' theta),
    # tauI = 8 theta.
    settings = simc(ProcessModel(0.2, math.inf, 3.0), tau_c=3.0)
    assert (settings.kc, settings.tau_i) == pytest.approx((0.5 / (0.2 * 3.0), 24.0))


def test_simc_uses_four_times_tau_c_plus_theta_for_lag_dominant_processes() -> None:
    settings = simc(ProcessModel(2.0, 100.0, 1.0), tau_c=4.0)
    assert (settings.kc, settings.tau_i) == pytest.approx((100.0 / (2.0 * 5.0), 20.0))


def test_imc_closed_forms() -> None:
    # Rivera, Morari & Skogestad (1986) PI: Kc = (2 tau + theta) / (2 k lambda), tauI = tau + theta / 2.
    settings = imc(ProcessModel(2.0, 10.0, 2.0), tau_c=5.0)
    assert (settings.kc, settings.tau_i) == pytest.approx((22.0 / 20.0, 11.0))
    # Chien & Fruehauf (1990), integrating: Kc = (2 lambda + theta) / (k' (lambda + theta)^2), tauI = 2 lambda + theta.
    settings = imc(ProcessModel(0.5, math.inf, 1.0), tau_c=4.0)
    assert (settings.kc, settings.tau_i) == pytest.approx((9.0 / (0.5 * 25.0), 9.0))


def test_ziegler_nichols_from_the_ultimate_point_of_a_discrete_integrator() -> None:
    b = 0.02  # b / (z - 1): phase -180 deg at the Nyquist frequency, Ku = 2 / b, Pu = 2 steps
    settings = rule_settings("zn", DiscreteModel("integrating", [-1.0], [b]), tau_c=10.0)
    assert (settings.kc, settings.tau_i) == pytest.approx((0.45 * 2 / b, 2 / 1.2), rel=1e-4)
    pid = ziegler_nichols(8.0, 2 * math.pi / math.sqrt(3), pid=True)  # 1/(s+1)^3: Ku = 8, Pu = 2 pi / sqrt 3
    assert (pid.kc, pid.tau_i, pid.tau_d) == pytest.approx((4.8, math.pi / math.sqrt(3), math.pi / (4 * math.sqrt(3))))


def test_series_and_ideal_forms_are_the_same_controller() -> None:
    series = PIDSettings(1.3, 2.0, 1.2, form="series")
    ideal = series.ideal()
    s = ct.tf("s")
    c_series = series.kc * (1 + 1 / (series.tau_i * s)) * (1 + series.tau_d * s)
    c_ideal = ideal.kc * (1 + 1 / (ideal.tau_i * s) + ideal.tau_d * s)
    points = 1j * np.array([0.01, 0.3, 1.0, 7.0])
    np.testing.assert_allclose(c_series(points), c_ideal(points), rtol=1e-12)
    gains = series.discrete_gains(dt=1.0)
    assert gains == pytest.approx({"kp": ideal.kc, "ki": ideal.kc / ideal.tau_i, "kd": ideal.kc * ideal.tau_d})


def test_discrete_models_map_to_continuous_parameters_with_half_a_step_for_the_hold() -> None:
    pole = math.exp(-1 / 20)
    fopdt = process_model(DiscreteModel("fopdt", [-pole], [3.0 * (1 - pole)], nk=3))
    assert (fopdt.gain, fopdt.tau1, fopdt.theta) == pytest.approx((3.0, 20.0, 2.5))
    integrating = process_model(DiscreteModel("integrating", [-1.0], [0.03], nk=1))
    assert integrating.integrating and (integrating.gain, integrating.theta) == pytest.approx((0.03, 0.5))
    # ARX (1 - 0.9 q^-1)(1 - 0.5 q^-1) y = 0.1 (1 - 0.5 q^-1) du is first order: K = 1, pole 0.9.
    arx = process_model(DiscreteModel("arx", [-1.4, 0.45], [0.1, -0.05], nk=1))
    assert (arx.gain, arx.tau1, arx.theta) == pytest.approx((1.0, -1 / math.log(0.9), 0.5), rel=1e-6)


def test_effort_units_flip_the_sign_for_actuators_that_lower_entropy() -> None:
    model = DiscreteModel("fopdt", [-0.9], [-0.05])
    assert plant_in_effort_units(model, -1).b == [0.05]
    with pytest.raises(ValueError, match="wrong sign"):
        rule_settings("simc", model, tau_c=10.0)


@pytest.mark.parametrize(("actuator", "direction", "bias", "limits"),
                         [("entropy_coeff", 1, 0.4, [-0.5, 1.5]), ("pos_weight", -1, 1.0, [0.5, 1.5])])
def test_controller_config_loads_and_keeps_the_knob_within_its_limits(actuator: str, direction: int, bias: float,
                                                                      limits: list[float], tmp_path: Path) -> None:
    config = controller_config({"kp": 2.0, "ki": 0.02, "kd": 0.0}, target=1.5, actuator=actuator, bias=bias,
                               direction=direction, sensor="entropy/mean", limits=limits, anti_windup="clamp")
    path = write_controller_config(tmp_path / "controller" / "designed.yaml", config, "line one\nline two")
    text = path.read_text()
    assert text.startswith("# line one\n# line two\n") and yaml.safe_load(text) == config
    field = actuator
    for entropy, knob in ((0.0, limits[direction > 0]), (9.0, limits[direction < 0])):
        # entropy far below the target asks for more entropy: the knob goes to the end that raises it
        controller = build_controller(controller_config_from_dict(config), 1, Control(), dtype=torch.float64)
        control = controller.update(Observation(0, {"entropy/mean": torch.tensor([entropy], dtype=torch.float64)}),
                                    Control())
        assert float(getattr(control, field)) == pytest.approx(knob)
