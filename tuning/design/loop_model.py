"""python-control models of the entropy loop: controller, loop and closed-loop transfer functions and analysis.

Everything is discrete with ``dt = 1`` optimizer step and follows entropic's PID law exactly
(:mod:`entropic.controllers.pid`), so a linear prediction here equals the trainer's trajectory
while the output stays inside its limits::

    m_k = b m_{k-1} + (1 - b) y_k                  # sensor EMA (b = 0: m = y)
    e_k = r_k - m_k
    u_k = Kp e_k + I_k + D_k,   I_{k+1} = I_k + Ki e_k,   D_k = a D_{k-1} - Kd (1 - a) (m_k - m_{k-1})

so ``u = C_r(z) r - C_y(z) y`` with ``C_r = Kp + Ki / (z - 1)`` and
``C_y = (C_r + Kd (1 - a) (z - 1) / (z - a)) F(z)``, ``F = (1 - b) z / (z - b)``. ``u_k`` acts
in step ``k``'s update and the plant (a :class:`~entropic.tuning.sysid.models.DiscreteModel`, delay ``nk >= 1``)
shows it in ``y_{k+1}`` at the earliest: the loop has at least one step of delay.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import control as ct
import numpy as np

__all__ = ["LoopAnalysis", "LoopMargins", "closed_loop_tf", "effort_tf", "loop_analysis", "loop_margins", "loop_tf",
           "pid_tf", "response_info", "ultimate_point"]

def pid_tf(kp: float, ki: float = 0.0, kd: float = 0.0, derivative_tau: float = 0.0, ema: float | None = None
           ) -> tuple[ct.TransferFunction, ct.TransferFunction]:
    """Reference and feedback parts ``(C_r, C_y)`` of entropic's discrete PID law (``u = C_r r - C_y y``).

    Parameters
    ----------
    kp, ki, kd : float
        Gains of the law (effort per nat, per nat and step, per nat per step).
    derivative_tau : float, optional
        Time constant of the derivative filter, steps (``a = tau / (tau + 1)``).
    ema : float, optional
        Sensor EMA factor ``b`` in ``[0, 1)``; ``None`` reads the raw sensor.

    Returns
    -------
    tuple of control.TransferFunction
        ``C_r`` (acts on the setpoint) and ``C_y`` (acts on the measurement), ``dt = 1``. The
        denominator of ``C_y`` is that of ``C_r`` times the filters' (no cancellation needed).
    """
    num_r, den_r = np.array([kp, ki - kp]), np.array([1.0, -1.0])  # Kp + Ki / (z - 1)
    num_y, den_y = num_r, den_r
    if kd:
        a = derivative_tau / (derivative_tau + 1.0)
        num_y = np.polyadd(np.polymul(num_y, [1.0, -a]), kd * (1.0 - a) * np.polymul([1.0, -1.0], [1.0, -1.0]))
        den_y = np.polymul(den_y, [1.0, -a])
    if ema:
        num_y, den_y = np.polymul(num_y, [1.0 - ema, 0.0]), np.polymul(den_y, [1.0, -ema])
    return ct.tf(num_r, den_r, dt=1), ct.tf(num_y, den_y, dt=1)


def _polys(system: ct.TransferFunction) -> tuple[np.ndarray, np.ndarray]:
    num, den = ct.tfdata(system)
    return np.atleast_1d(np.asarray(num[0][0], float)), np.atleast_1d(np.asarray(den[0][0], float))


def _closed_loop(plant: ct.TransferFunction, c_r: ct.TransferFunction, c_y: ct.TransferFunction,
                 effort: bool) -> ct.TransferFunction:
    """``P C_r / (1 + C_y P)`` (or ``C_r / (1 + C_y P)``) with the common controller pole cancelled exactly."""
    b, a = _polys(plant)
    num_r, den_r = _polys(c_r)
    num_y, den_y = _polys(c_y)
    extra, rest = np.polydiv(den_y, den_r)
    if np.allclose(rest, 0.0, atol=1e-12 * np.abs(den_y).max()):
        num, den = np.polymul(num_r, extra), np.polyadd(np.polymul(a, den_y), np.polymul(b, num_y))
    else:
        num = np.polymul(num_r, den_y)
        den = np.polymul(den_r, np.polyadd(np.polymul(a, den_y), np.polymul(b, num_y)))
    return ct.tf(np.polymul(num, a if effort else b), den, dt=1)


def loop_tf(plant: ct.TransferFunction, c_y: ct.TransferFunction) -> ct.TransferFunction:
    """Loop transfer function ``L = C_y P`` (the loop broken at the plant input)."""
    return c_y * plant


def closed_loop_tf(plant: ct.TransferFunction, c_r: ct.TransferFunction, c_y: ct.TransferFunction
                   ) -> ct.TransferFunction:
    """Setpoint to measurement, ``P C_r / (1 + C_y P)``."""
    return _closed_loop(plant, c_r, c_y, effort=False)


def effort_tf(plant: ct.TransferFunction, c_r: ct.TransferFunction, c_y: ct.TransferFunction
              ) -> ct.TransferFunction:
    """Setpoint to controller effort, ``C_r / (1 + C_y P)``."""
    return _closed_loop(plant, c_r, c_y, effort=True)


@dataclass
class LoopMargins:
    """Stability margins of a loop ``L``.

    Attributes
    ----------
    gm : float
        Gain margin: the factor on ``L`` that makes the loop unstable (``inf`` = none).
    pm : float
        Phase margin, degrees.
    sm : float
        Stability margin, ``min |1 + L|`` (``1 / Ms``).
    wpc, wgc : float
        Phase- and gain-crossover frequencies, rad per step (``nan`` where none).
    """

    gm: float
    pm: float
    sm: float
    wpc: float
    wgc: float


def loop_margins(loop: ct.TransferFunction) -> LoopMargins:
    """Margins of ``loop`` by ``control.stability_margins``, plus the Nyquist-frequency crossing it skips.

    A type-2 loop (integral action on an integrating plant) has phase -180 deg at ``w -> 0``,
    which ``stability_margins`` reports as a gain margin below 1 at ``w ~ 0``; such points
    (``w < 1e-4``) are dropped, and the gain margin is the smallest factor > 1 that destabilises.
    """
    with warnings.catch_warnings():  # python-control evaluates integrators at w = 0 and may fall back to 'frd'
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.filterwarnings("ignore", message=".*Falling back to 'frd'", category=UserWarning)
        gms, pms, sms, wpcs, wgcs, _ = ct.stability_margins(loop, returnall=True)
    points = [(g, w) for g, w in zip(np.atleast_1d(gms), np.atleast_1d(wpcs), strict=True) if w > 1e-4 and g > 1]
    nyquist = complex(np.squeeze(loop(-1.0)))
    if abs(nyquist.imag) < 1e-9 * max(1.0, abs(nyquist)) and nyquist.real < 0:
        points.append((1.0 / abs(nyquist), math.pi))
    gm, wpc = min(points) if points else (math.inf, math.nan)
    pms, wgcs = np.atleast_1d(pms), np.atleast_1d(wgcs)
    pm, wgc = (float(pms.min()), float(wgcs[pms.argmin()])) if pms.size else (math.inf, math.nan)
    return LoopMargins(float(gm), pm, float(np.min(sms)), float(wpc), wgc)


def ultimate_point(plant: ct.TransferFunction) -> tuple[float, float]:
    """Ultimate gain and period ``(Ku, Pu)`` of a P controller on ``plant``: where the phase first reaches -180 deg.

    This is the point a relay test finds (Astrom & Hagglund 1984); Ziegler-Nichols rules start
    from it. For a discrete plant (``dt = 1``) the Nyquist frequency ``pi`` counts as a crossing
    when ``plant(-1)`` is negative real; a continuous plant is scanned up to ``1e4`` rad per unit time.
    """
    if plant.isdtime(strict=True):
        omega = np.concatenate([np.geomspace(1e-4, 1.0, 4000), np.linspace(1.0, math.pi, 4000)[1:]])
        points = np.exp(1j * omega)
    else:
        omega = np.geomspace(1e-4, 1e4, 16000)
        points = 1j * omega
    phase = np.unwrap(np.angle(np.squeeze(plant(points))))
    phase -= 2 * math.pi * np.round(phase[0] / (2 * math.pi))  # start in (-pi, pi]
    below = np.nonzero(phase <= -math.pi)[0]
    if below.size == 0:
        raise ValueError("the plant's phase never reaches -180 deg: no ultimate point (a P controller cannot "
                         "destabilise it), so Ziegler-Nichols does not apply")
    i = below[0]
    w = omega[0] if i == 0 else np.interp(-math.pi, [phase[i], phase[i - 1]], [omega[i], omega[i - 1]])
    at = np.exp(1j * w) if plant.isdtime(strict=True) else 1j * w
    return float(1.0 / abs(np.squeeze(plant(at)))), float(2 * math.pi / w)


@dataclass
class LoopAnalysis:
    """The designed loop as python-control sees it.

    Attributes
    ----------
    plant, c_r, c_y, loop, closed_loop, effort : control.TransferFunction
        Plant (effort to sensor), controller parts, ``L = C_y P``, setpoint-to-sensor and
        setpoint-to-effort transfer functions.
    margins : LoopMargins
    poles : numpy.ndarray
        Closed-loop poles.
    stable : bool
        All closed-loop poles strictly inside the unit circle.
    time, step, step_effort : numpy.ndarray
        ``[horizon]`` steps and the unit setpoint-step responses of the sensor and the effort.
    step_info : dict
        ``control.step_info`` of the setpoint step (rise / settling time in steps, overshoot in %).
    """

    plant: ct.TransferFunction
    c_r: ct.TransferFunction
    c_y: ct.TransferFunction
    loop: ct.TransferFunction
    closed_loop: ct.TransferFunction
    effort: ct.TransferFunction
    margins: LoopMargins
    poles: np.ndarray
    stable: bool
    time: np.ndarray
    step: np.ndarray
    step_effort: np.ndarray
    step_info: dict


def loop_analysis(plant: ct.TransferFunction, kp: float, ki: float = 0.0, kd: float = 0.0,
                  derivative_tau: float = 0.0, ema: float | None = None, *, horizon: int = 400,
                  settling_threshold: float = 0.05) -> LoopAnalysis:
    """Margins, closed-loop poles and setpoint-step response of entropic's PID law on ``plant``.

    Parameters
    ----------
    plant : control.TransferFunction
        Discrete plant from effort to sensor (``dt = 1``), effort in the law's units.
    kp, ki, kd, derivative_tau, ema : float
        The law's parameters (see :func:`pid_tf`).
    horizon : int, optional
        Steps of the step responses (default 400).
    settling_threshold : float, optional
        Settling band of ``step_info`` as a fraction of the step (default 0.05).

    Returns
    -------
    LoopAnalysis
    """
    c_r, c_y = pid_tf(kp, ki, kd, derivative_tau, ema)
    loop = loop_tf(plant, c_y)
    closed = closed_loop_tf(plant, c_r, c_y)
    effort = effort_tf(plant, c_r, c_y)
    poles = np.asarray(closed.poles())
    stable = bool(np.all(np.abs(poles) < 1.0 - 1e-12))
    time = np.arange(horizon, dtype=float)
    step = np.squeeze(ct.step_response(closed, time).outputs)
    step_effort = np.squeeze(ct.step_response(effort, time).outputs)
    info = response_info(step, time, settling_threshold) if stable else {}
    return LoopAnalysis(plant, c_r, c_y, loop, closed, effort, loop_margins(loop), poles, stable, time, step,
                        step_effort, info)


def response_info(response: np.ndarray, time: np.ndarray, settling_threshold: float = 0.05) -> dict[str, float]:
    """``control.step_info`` of a unit-step response ``[K]`` (final value 1); NaN for what the window lacks.

    ``step_info`` fails when the response never reaches 90% of the step inside ``time``; then
    the rise and settling times are NaN and the overshoot and peak are taken from the data.
    """
    try:
        info = ct.step_info(response, T=time, yfinal=1.0, SettlingTimeThreshold=settling_threshold)
    except IndexError:
        peak = int(np.argmax(response))
        info = {"RiseTime": math.nan, "SettlingTime": math.nan, "Overshoot": max(0.0, 100 * (response[peak] - 1.0)),
                "Peak": float(response[peak]), "PeakTime": float(time[peak])}
    return {key: float(value) for key, value in info.items()}
