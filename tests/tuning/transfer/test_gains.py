"""Carried gains give the target the source's loop: equal margins, crossover scaled by the plant's speed."""

from __future__ import annotations

import math

import control as ct
import pytest

from entropic.tuning.design.rules import ProcessModel
from entropic.tuning.transfer import carried_effort_limits, transfer_gains, transfer_setpoint


def _loop(gains: dict[str, float], plant: ProcessModel) -> ct.TransferFunction:
    """Continuous loop ``C(s) G(s)``: PI ``kp + ki / s`` (one step of sample time) on the plant, its delay by a
    6th-order Pade approximant (exact under time scaling)."""
    s = ct.tf("s")
    controller = gains["kp"] + gains["ki"] / s
    lag = plant.gain / s if plant.integrating else plant.gain / (plant.tau1 * s + 1)
    delay = ct.tf(*ct.pade(plant.theta, 6))
    return controller * lag * delay


@pytest.mark.parametrize(("gain_scale", "time_scale"), [(0.2, 3.0), (5.0, 0.5), (1.0, 10.0)])
def test_a_scaled_first_order_plant_gets_the_same_margins_at_a_scaled_crossover(gain_scale: float,
                                                                                time_scale: float) -> None:
    source = ProcessModel(gain=1.7, tau1=12.0, theta=1.5)
    target = ProcessModel(gain=1.7 * gain_scale, tau1=12.0 * time_scale, theta=1.5 * time_scale)
    gains = {"kp": 0.8, "ki": 0.05}
    carried = transfer_gains(gains, source, target)
    assert carried.rule == "first-order" and math.isclose(carried.time_ratio, time_scale)
    gm_s, pm_s, _, wg_s, wp_s, _ = ct.stability_margins(_loop(gains, source))
    gm_t, pm_t, _, wg_t, wp_t, _ = ct.stability_margins(_loop(carried.gains, target))
    assert math.isclose(pm_t, pm_s, rel_tol=1e-6) and math.isclose(gm_t, gm_s, rel_tol=1e-6)
    assert math.isclose(wp_t * time_scale, wp_s, rel_tol=1e-6)  # gain crossover: a times slower


def test_an_integrating_target_keeps_the_loop_when_its_rate_is_matched() -> None:
    source = ProcessModel(gain=0.4, tau1=math.inf, theta=1.5)
    target = ProcessModel(gain=0.13, tau1=math.inf, theta=1.5)
    gains = {"kp": 0.3, "ki": 0.01}
    carried = transfer_gains(gains, source, target)
    assert carried.rule == "integrating" and carried.time_ratio == 1.0
    assert math.isclose(carried.gains["kp"], 0.3 * 0.4 / 0.13) and math.isclose(carried.gains["ki"], 0.01 * 0.4 / 0.13)
    before, after = ct.stability_margins(_loop(gains, source)), ct.stability_margins(_loop(carried.gains, target))
    for a, b in zip(before, after, strict=True):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


def test_a_first_order_source_meets_an_integrating_target_by_its_initial_rate() -> None:
    carried = transfer_gains({"kp": 1.0, "ki": 0.1}, ProcessModel(2.0, 20.0, 1.5), ProcessModel(0.05, math.inf, 1.5))
    assert math.isclose(carried.gain_ratio, (2.0 / 20.0) / 0.05) and carried.time_ratio == 1.0


def test_setpoints_carry_in_nats_or_as_a_share_of_the_reference_entropy() -> None:
    assert transfer_setpoint(1.5, "absolute") == 1.5
    assert math.isclose(transfer_setpoint(1.5, "relative", source_reference=3.0, target_reference=0.8), 0.4)
    with pytest.raises(ValueError, match=r"transfer.setpoint_mode='ratio' is not supported; allowed values: "
                                         r"\['absolute', 'relative'\]"):
        transfer_setpoint(1.5, "ratio")
    with pytest.raises(ValueError, match="needs the source's and the target's reference entropies"):
        transfer_setpoint(1.5, "relative")


def test_a_plant_of_the_wrong_sign_is_refused() -> None:
    with pytest.raises(ValueError, match="the target plant must have a positive gain"):
        transfer_gains({"kp": 1.0}, ProcessModel(1.0, 5.0, 1.0), ProcessModel(-1.0, 5.0, 1.0))


def test_the_effort_range_scales_with_the_proportional_gain() -> None:
    # kp 9 -> 4.5: the effort that saturated at an error of 1/9 nat now saturates at the same error
    law = {"kp": 9.0, "output_min": -1.0, "output_max": 0.5}
    assert carried_effort_limits(law, 0.5) == {"output_min": -0.5, "output_max": 0.25}
    assert carried_effort_limits({"output_min": None, "output_max": 2.0}, 3.0) == {"output_min": None,
                                                                                  "output_max": 6.0}
    # a ratio of 30 (a poorly identified plant) stays inside the effort the target's knob limits allow
    assert carried_effort_limits(law, 30.0, within=(-0.3, 0.2)) == {"output_min": -0.3, "output_max": 0.2}
    assert carried_effort_limits({"output_min": None, "output_max": None}, 2.0, within=(-0.3, 0.2)) == \
        {"output_min": -0.3, "output_max": 0.2}
