"""Analytic PI/PID tuning from an identified model: SIMC, IMC and Ziegler-Nichols, and the controller config.

From discrete to continuous (sample time ``dt`` = one optimizer step). A discrete first-order
model ``y_{k+1} = a y_k + b u_{k-d}`` is the zero-order-hold sampling of
``k e^{-d dt s} / (tau s + 1)`` with ``k = b / (1 - a)``, ``tau = -dt / ln a``; an integrating
``y_{k+1} = y_k + b u_{k-d}`` is that of ``k' e^{-d dt s} / s`` with ``k' = b / dt``. A sampled
controller adds about half a sample of delay (the hold), so the rules see the effective delay
``theta = d dt + dt / 2`` (Skogestad 2003, on digital implementation). ARX models are first
reduced to first order plus dead time by a least-squares fit to their step response.

Rules, in Skogestad's notation (``tau_c``: desired closed-loop time constant):

- SIMC (Skogestad 2003): ``Kc = tau1 / (k (tau_c + theta))``, ``tauI = min(tau1, 4 (tau_c + theta))``,
  ``tauD = tau2`` (series form); integrating: ``Kc = 1 / (k' (tau_c + theta))``, ``tauI = 4 (tau_c + theta)``.
- IMC (Rivera, Morari & Skogestad 1986, PI with ``lambda = tau_c``): ``Kc = (2 tau + theta) / (2 k lambda)``,
  ``tauI = tau + theta / 2``; integrating (Chien & Fruehauf 1990):
  ``Kc = (2 lambda + theta) / (k' (lambda + theta)^2)``, ``tauI = 2 lambda + theta``.
- Ziegler-Nichols (1942), ultimate-sensitivity rules from the model's ultimate point
  (:func:`entropic.tuning.design.loop_model.ultimate_point`): PI ``0.45 Ku, Pu / 1.2``; PID ``0.6 Ku, Pu / 2, Pu / 8``.

Gains of entropic's law (:mod:`entropic.controllers.pid`): ``kp = Kc``, ``ki = Kc dt / tauI``,
``kd = Kc tauD / dt`` in the ideal (parallel ISA) form; series settings are converted first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from entropic.tuning.design.loop_model import ultimate_point
from entropic.tuning.sysid.models import DiscreteModel, fit_fopdt, fit_integrating, nrmse

__all__ = ["PIDSettings", "ProcessModel", "controller_config", "imc", "plant_in_effort_units", "process_model",
           "rule_settings", "simc", "write_controller_config", "ziegler_nichols"]


@dataclass(frozen=True)
class ProcessModel:
    """Continuous model of the tuning rules: ``k e^{-theta s} / ((tau1 s + 1)(tau2 s + 1))`` or ``k' e^{-theta s} / s``.

    Attributes
    ----------
    gain : float
        ``k`` (sensor units per effort unit), or ``k'`` (per effort unit and step) when integrating.
    tau1 : float
        Dominant time constant, steps; ``inf`` for an integrating process.
    theta : float
        Effective delay, steps (dead time plus half a sample for the hold).
    tau2 : float
        Second time constant, steps (0 for first order).
    """

    gain: float
    tau1: float
    theta: float
    tau2: float = 0.0

    @property
    def integrating(self) -> bool:
        """Whether the process is ``k' e^{-theta s} / s``."""
        return math.isinf(self.tau1)


@dataclass(frozen=True)
class PIDSettings:
    """Continuous PI/PID settings ``Kc, tauI, tauD`` (steps) and where they came from.

    Attributes
    ----------
    kc, tau_i, tau_d : float
        Controller gain (effort per nat), integral and derivative times (steps).
    form : str
        ``series`` (Skogestad's cascade ``Kc (1 + 1/(tauI s)) (1 + tauD s)``) or ``ideal``
        (``Kc (1 + 1/(tauI s) + tauD s)``); the two agree when ``tau_d = 0``.
    rule : str
        ``simc``, ``imc`` or ``zn``.
    """

    kc: float
    tau_i: float
    tau_d: float = 0.0
    form: str = "series"
    rule: str = ""

    def ideal(self) -> PIDSettings:
        """The same controller in the ideal form."""
        if self.form == "ideal" or self.tau_d == 0.0:
            return replace(self, form="ideal")
        factor = 1.0 + self.tau_d / self.tau_i
        return replace(self, kc=self.kc * factor, tau_i=self.tau_i * factor, tau_d=self.tau_d / factor, form="ideal")

    def discrete_gains(self, dt: float = 1.0) -> dict[str, float]:
        """``{"kp", "ki", "kd"}`` of entropic's law (``I += ki e`` once per step of length ``dt``)."""
        ideal = self.ideal()
        return {"kp": ideal.kc, "ki": ideal.kc * dt / ideal.tau_i, "kd": ideal.kc * ideal.tau_d / dt}


def plant_in_effort_units(model: DiscreteModel, direction: int) -> DiscreteModel:
    """The model from the law's effort ``u`` (``knob = bias + direction * u``) instead of the knob."""
    if direction not in (-1, 1):
        raise ValueError(f"actuator direction must be +1 or -1 for feedback design, got {direction}")
    return replace(model, b=[direction * v for v in model.b])


def process_model(model: DiscreteModel, dt: float = 1.0, *, horizon: int = 400) -> ProcessModel:
    """Continuous first-order-plus-delay (or integrating) parameters of a discrete model (module docstring).

    Parameters
    ----------
    model : DiscreteModel
        ``fopdt``, ``integrating`` or ``arx`` (reduced by a least-squares fit of its step response).
    dt : float, optional
        Sample time (default 1 step).
    horizon : int, optional
        Steps of the step response used to reduce an ARX model.

    Returns
    -------
    ProcessModel
    """
    if model.kind == "arx":
        model = _reduce(model, horizon)
    theta = model.dead_time * dt + dt / 2.0
    if model.kind == "integrating":
        return ProcessModel(model.b[0] / dt, math.inf, theta)
    pole = -model.a[0]
    if pole >= 1.0:  # an unstable or integrating first-order fit: the rules treat it as integrating
        return ProcessModel(model.b[0] / dt, math.inf, theta)
    if pole <= 0.0:
        raise ValueError(f"the first-order model has pole {pole:.3g} <= 0: the process is faster than one step, "
                         f"so PI tuning rules do not apply; excite longer (design.excitation.period)")
    return ProcessModel(model.b[0] / (1.0 - pole), -dt / math.log(pole), theta)


def _reduce(model: DiscreteModel, horizon: int) -> DiscreteModel:
    """First order plus dead time (or integrating) with the closest unit-step response to ``model``'s."""
    lead = 10  # zeros before the step, so that the input is not collinear with the constant term
    step = (np.arange(horizon + lead) >= lead).astype(float)
    response = replace(model, c=0.0).simulate(step, np.zeros(max(len(model.a), 1)))
    fits = [fit_fopdt(step, response, max_dead_time=5), fit_integrating(step, response, max_dead_time=5)]
    return min(fits, key=lambda m: nrmse(response, m.simulate(step, response[:1])))


def simc(process: ProcessModel, tau_c: float) -> PIDSettings:
    """Skogestad's SIMC settings (series form; PID when ``tau2 > 0``) for closed-loop time constant ``tau_c``."""
    _check(process, tau_c)
    if process.integrating:
        return PIDSettings(1.0 / (process.gain * (tau_c + process.theta)), 4.0 * (tau_c + process.theta),
                           process.tau2, rule="simc")
    return PIDSettings(process.tau1 / (process.gain * (tau_c + process.theta)),
                       min(process.tau1, 4.0 * (tau_c + process.theta)), process.tau2, rule="simc")


def imc(process: ProcessModel, tau_c: float) -> PIDSettings:
    """IMC PI settings, ``lambda = tau_c`` (Rivera, Morari & Skogestad 1986; integrating: Chien & Fruehauf 1990)."""
    _check(process, tau_c)
    lam, theta, k = tau_c, process.theta, process.gain
    if process.integrating:
        return PIDSettings((2 * lam + theta) / (k * (lam + theta) ** 2), 2 * lam + theta, rule="imc")
    return PIDSettings((2 * process.tau1 + theta) / (2 * k * lam), process.tau1 + theta / 2, rule="imc")


def ziegler_nichols(ku: float, pu: float, pid: bool = False) -> PIDSettings:
    """Ziegler-Nichols ultimate-sensitivity settings from the ultimate gain ``ku`` and period ``pu`` (steps)."""
    if not (ku > 0 and pu > 0):
        raise ValueError(f"Ziegler-Nichols needs a positive ultimate gain and period, got Ku={ku}, Pu={pu}")
    if pid:
        return PIDSettings(0.6 * ku, pu / 2.0, pu / 8.0, form="ideal", rule="zn")
    return PIDSettings(0.45 * ku, pu / 1.2, form="ideal", rule="zn")


def rule_settings(rule: str, model: DiscreteModel, tau_c: float, dt: float = 1.0) -> PIDSettings:
    """PI settings by ``rule`` (``simc``, ``imc``, ``zn``) for a model in effort units (see plant_in_effort_units)."""
    process = process_model(model, dt)
    if process.gain <= 0:
        raise ValueError(f"the identified effect of the actuator on the sensor has the wrong sign (gain "
                         f"{process.gain:.3g}): a positive effort should raise entropy; check the actuator and the "
                         f"operating point, or enlarge design.excitation.amplitudes")
    if rule == "zn":
        return ziegler_nichols(*ultimate_point(model.tf()))
    if rule == "simc":
        return simc(process, tau_c)
    if rule == "imc":
        return imc(process, tau_c)
    raise ValueError(f"unknown tuning rule {rule!r}; allowed: ['simc', 'imc', 'zn']")


def _check(process: ProcessModel, tau_c: float) -> None:
    if not (process.gain > 0 and process.theta >= 0 and process.tau1 > 0 and tau_c > 0):
        raise ValueError(f"tuning rules need gain > 0, tau1 > 0, theta >= 0 and tau_c > 0; got {process}, "
                         f"tau_c={tau_c}")


def controller_config(gains: dict[str, float], *, target: float, actuator: str, bias: float, direction: int,
                      sensor: str, limits: list[float] | None, anti_windup: str) -> dict[str, Any]:
    """A controller config in the ``configs/controller/`` format (law x actuator x sensor).

    Parameters
    ----------
    gains : dict
        ``kp``, ``ki``, ``kd`` of entropic's law.
    target : float
        Setpoint, nats.
    actuator : str
        Registered actuator; ``bias`` is its knob at zero effort (the operating point).
    bias : float
        Operating-point knob.
    direction : int
        The actuator's declared direction (knob = bias + direction * effort).
    sensor : str
        Observation key read.
    limits : list of float, optional
        ``[low, high]`` knob limits, turned into effort limits; ``None`` = the actuator's own.
    anti_windup : str
        ``none``, ``clamp`` or ``back_calculation``.

    Returns
    -------
    dict
        Loads with :func:`entropic.controllers.controller_config_from_dict`.
    """
    output_min = output_max = None
    if limits is not None:
        if not limits[0] <= bias <= limits[1]:
            raise ValueError(f"the operating-point knob {bias:.4g} lies outside design.limits={list(limits)}: widen "
                             f"the limits (zero effort must be allowed)")
        output_min, output_max = sorted(direction * (knob - bias) for knob in limits)
    name = "pid" if gains.get("kd", 0.0) else "pi"
    law = {"name": name, "kp": float(gains["kp"]), "ki": float(gains["ki"]), "kd": float(gains.get("kd", 0.0)),
           "setpoint": float(target), "setpoint_schedule": None, "output_min": output_min, "output_max": output_max,
           "rate_limit": None, "derivative_tau": 0.0, "anti_windup": anti_windup, "tracking_gain": 1.0}
    return {"law": law, "actuator": {"name": actuator, "bias": float(bias)}, "sensor": {"name": sensor, "ema": None}}


def write_controller_config(path: str | Path, config: dict[str, Any], header: str) -> Path:
    """Write ``config`` as YAML under the comment lines of ``header``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    path.write_text(comments + yaml.safe_dump(config, sort_keys=False, default_flow_style=False))
    return path
