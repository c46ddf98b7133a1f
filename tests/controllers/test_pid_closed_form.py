"""P / PI / PID laws against closed forms and python-control on a discrete first-order plant.

Plant: ``y[k+1] = a y[k] + b u[k]``, i.e. ``P(z) = b / (z - a)`` with sample time 1 step.
Timing convention: the controller sees ``y[k]`` and outputs ``u[k]`` in the same step (direct
feed-through, ``C(z) = Kp + Ki / (z - 1)`` for ``I[k+1] = I[k] + Ki e[k]``); the one-step delay is in
the plant. So the closed loop from setpoint to measurement is ``feedback(C P, 1)`` with zero initial
state, and ``y[k]`` of the simulation is the k-th sample of ``forced_response`` (y[0] = 0).
"""

from __future__ import annotations

import control as ct
import numpy as np
import pytest
import torch

from entropic.controllers import ControllerConfig, build_controller

A, B = 0.8, 0.5


def _controller(law: dict, **actuator):
    config = ControllerConfig.from_dict({"law": law, "actuator": {"name": "entropy_coeff", **actuator}})
    return build_controller(config, num_runs=1, dtype=torch.float64)


@pytest.mark.parametrize("kp", [0.5, 1.0, 2.0])
def test_p_steady_state_error_matches_closed_form(loop, kp: float) -> None:
    r = 1.0
    y, _ = loop(_controller({"name": "p", "kp": kp, "setpoint": r}), A, B, steps=300)
    y_ss = B * kp * r / (1 - A + B * kp)
    assert float(y[-1, 0]) == pytest.approx(y_ss, abs=1e-12)
    assert r - float(y[-1, 0]) == pytest.approx(r * (1 - A) / (1 - A + B * kp), abs=1e-12)


def test_pi_removes_steady_state_error(loop) -> None:
    r = 1.0
    y, _ = loop(_controller({"name": "pi", "kp": 1.0, "ki": 0.3, "setpoint": r, "anti_windup": "none"}), A, B, 300)
    assert float(y[-1, 0]) == pytest.approx(r, abs=1e-12)


def _plant() -> ct.TransferFunction:
    return ct.tf([B], [1, -A], dt=1)


def _pi(kp: float, ki: float) -> ct.TransferFunction:
    return ct.tf([kp, ki - kp], [1, -1], dt=1)  # Kp + Ki / (z - 1)


@pytest.mark.parametrize("kp,ki", [(1.0, 0.3), (0.4, 0.1), (1.5, 0.05)])
def test_pi_loop_matches_python_control_step_response(loop, kp: float, ki: float) -> None:
    steps = 60
    law = {"name": "pi", "kp": kp, "ki": ki, "setpoint": 1.0, "anti_windup": "none"}
    y, u = loop(_controller(law), A, B, steps)
    time = np.arange(steps)
    closed = ct.feedback(_pi(kp, ki) * _plant(), 1)
    effort = ct.feedback(_pi(kp, ki), _plant())  # setpoint -> controller output
    np.testing.assert_allclose(y[:, 0].numpy(), ct.step_response(closed, time).outputs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(u[:, 0].numpy(), ct.step_response(effort, time).outputs, rtol=0, atol=1e-12)
    assert np.all(np.abs(closed.poles()) < 1)


def test_pi_loop_with_scheduled_setpoint_matches_forced_response(loop) -> None:
    steps, kp, ki = 80, 0.6, 0.2
    schedule = {"name": "linear", "start": 0.2, "end": 1.0, "steps": 40}
    law = {"name": "pi", "kp": kp, "ki": ki, "setpoint": None, "setpoint_schedule": schedule, "anti_windup": "none"}
    y, _ = loop(_controller(law), A, B, steps)
    time = np.arange(steps)
    setpoint = 0.2 + 0.8 * np.minimum(time / 40, 1.0)
    expected = ct.forced_response(ct.feedback(_pi(kp, ki) * _plant(), 1), time, setpoint).outputs
    np.testing.assert_allclose(y[:, 0].numpy(), expected, rtol=0, atol=1e-12)


def test_pid_with_filtered_derivative_on_measurement_matches_two_degree_of_freedom_loop(loop) -> None:
    """``u = C_e (r - y) - C_d y`` with ``C_d = Kd (1 - a) (z - 1) / (z - a)``: y = P C_e r / (1 + P (C_e + C_d))."""
    steps, kp, ki, kd, tau = 60, 0.8, 0.2, 0.5, 1.5
    law = {"name": "pid", "kp": kp, "ki": ki, "kd": kd, "derivative_tau": tau, "setpoint": 1.0,
           "anti_windup": "none"}
    y, _ = loop(_controller(law), A, B, steps)
    f = tau / (tau + 1)
    derivative = ct.tf([kd * (1 - f), -kd * (1 - f)], [1, -f], dt=1)
    closed = _pi(kp, ki) * ct.feedback(_plant(), _pi(kp, ki) + derivative)
    expected = ct.step_response(closed, np.arange(steps)).outputs
    np.testing.assert_allclose(y[:, 0].numpy(), expected.squeeze(), rtol=0, atol=1e-12)


def _overshoot_and_recovery(y: torch.Tensor, r: float, band: float = 0.02) -> tuple[float, int]:
    outside = ((y - r).abs() > band).nonzero()
    return float(y.max()) - r, int(outside[-1]) + 1 if len(outside) else 0


def test_anti_windup_recovers_from_saturation_faster_than_plain_pi(loop) -> None:
    """Plant a = 0.9, b = 0.1 (steady effort 1 for r = 1) with the effort saturated at 1.5."""
    r, results = 1.0, {}
    for anti_windup in ("none", "clamp", "back_calculation"):
        law = {"name": "pi", "kp": 2.0, "ki": 0.3, "setpoint": r, "anti_windup": anti_windup,
               "output_min": 0.0, "output_max": 1.5}
        y, u = loop(_controller(law), 0.9, 0.1, steps=200)
        assert float(u.max()) == 1.5  # the actuator saturates
        results[anti_windup] = _overshoot_and_recovery(y[:, 0], r)
    plain_overshoot, plain_recovery = results["none"]
    for anti_windup in ("clamp", "back_calculation"):
        overshoot, recovery = results[anti_windup]
        assert overshoot < 0.5 * plain_overshoot, results
        assert recovery < plain_recovery - 10, results


def test_output_limits_hold_and_rate_limit_bounds_every_change(loop) -> None:
    law = {"name": "pi", "kp": 2.0, "ki": 0.3, "setpoint": 1.0, "anti_windup": "clamp",
           "output_min": -0.5, "output_max": 1.5, "rate_limit": 0.1}
    _, u = loop(_controller(law), 0.9, 0.1, steps=100)
    steps = torch.diff(torch.cat([torch.zeros(1, 1, dtype=u.dtype), u]), dim=0)  # u[-1] = 0, the base control
    assert float(steps.abs().max()) <= 0.1 + 1e-12
    assert float(u.min()) >= -0.5 and float(u.max()) <= 1.5
    assert float(u[0, 0]) == pytest.approx(0.1)
