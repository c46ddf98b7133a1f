"""Discrete P / PI / PID law with setpoint schedule, limits, derivative filter and anti-windup.

At optimizer step ``k``, with measurement ``y_k`` and setpoint ``r_k`` (nats)::

    e_k   = r_k - y_k                                   # entropy too low -> e > 0 -> more entropy
    P_k   = Kp e_k
    D_k   = a D_{k-1} - Kd (1 - a) (y_k - y_{k-1})      # on the measurement, a = tau / (tau + 1); D_0 = 0
    u_raw = P_k + I_k + D_k
    u_k   = clip(u_{k-1} + clip(u_raw - u_{k-1}, -rate, rate), low, high)     # u_{-1} = 0
    I_{k+1} = I_k + Ki e_k                              # none
            = I_k + Ki e_k * 1[not ((u_raw - u_k) e_k > 0)]     # clamp (conditional integration)
            = I_k + Ki e_k + Kt (u_k - u_raw)           # back_calculation (tracking)

``u_k`` is applied during step ``k`` (direct feed-through; the plant's response appears in
``y_{k+1}``). ``low``/``high`` are the configured output limits intersected with the actuator's
physical limits. ``I`` and ``D`` are kept in output units with their gains inside the recursion,
so a change of ``Ki`` or ``Kd`` acts on future errors and measurement changes only (no bump);
:meth:`PIDLaw.set_gains` shifts ``I`` so that a change of ``Kp`` does not bump the output either.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

from entropic.controllers.control_laws import Metrics, StatefulLaw, law_metrics, register_control_law
from entropic.controllers.law_configs import PIDConfig
from entropic.controllers.schedules import schedule_value

Gain = float | list[float] | torch.Tensor
"""A gain for every run (float) or one per run (list or tensor ``[R]``)."""


@register_control_law("p", "pi", "pid", config=PIDConfig)
class PIDLaw(StatefulLaw):
    """Vectorised discrete PID over R runs (see the module docstring for the equations).

    Parameters
    ----------
    params : SimpleNamespace
        Stacked :class:`~entropic.controllers.config.PIDConfig` (tensors ``[R]``).
    low, high : FloatTensor [R]
        The actuator's physical output limits (effort units); intersected with the configured ones.
    """

    _state = ("kp", "ki", "kd", "integral", "derivative", "last_error", "last_measurement", "last_output")

    def __init__(self, params: SimpleNamespace, low: torch.Tensor, high: torch.Tensor) -> None:
        self.name = params.name
        self.kp, self.ki, self.kd = params.kp, params.ki, params.kd
        self.setpoint, self.schedule = params.setpoint, params.setpoint_schedule
        self.low = low if params.output_min is None else torch.maximum(low, params.output_min)
        self.high = high if params.output_max is None else torch.minimum(high, params.output_max)
        if bool((self.low > self.high).any()):
            raise ValueError(f"controller.law.output_min/output_max leave no output within the actuator's "
                             f"physical limits [{low.tolist()}, {high.tolist()}]")
        self.rate_limit = params.rate_limit
        self.filter = params.derivative_tau / (params.derivative_tau + 1.0)
        self.anti_windup = params.anti_windup
        self.tracking_gain = params.tracking_gain
        zeros = torch.zeros_like(low)
        self.integral, self.derivative = zeros.clone(), zeros.clone()
        self.last_error, self.last_measurement, self.last_output = zeros.clone(), zeros.clone(), zeros.clone()

    def target(self, step: int) -> torch.Tensor:
        """Setpoint ``[R]`` (nats) at optimizer step ``step``."""
        return self.setpoint if self.schedule is None else schedule_value(self.schedule, step)

    def step(self, step: int, measurement: torch.Tensor | None) -> tuple[torch.Tensor, Metrics]:
        """Output ``[R]`` for the measurement ``[R]`` of step ``step``, and the step's metrics."""
        setpoint = self.target(step)
        error = setpoint - measurement
        p = self.kp * error
        if self.updates > 0:
            change = measurement - self.last_measurement
            self.derivative = self.filter * self.derivative - self.kd * (1.0 - self.filter) * change
        d = self.derivative
        i = self.integral
        raw = p + i + d
        output = raw
        if self.rate_limit is not None:
            output = self.last_output + torch.minimum(torch.maximum(raw - self.last_output, -self.rate_limit),
                                                      self.rate_limit)
        output = torch.minimum(torch.maximum(output, self.low), self.high)
        increment = self.ki * error
        if self.anti_windup == "clamp":
            increment = torch.where((raw - output) * error > 0, torch.zeros_like(increment), increment)
        elif self.anti_windup == "back_calculation":
            increment = increment + self.tracking_gain * (output - raw)
        self.integral = i + increment
        self.last_error, self.last_measurement, self.last_output = error, measurement, output
        self.updates += 1
        return output, law_metrics(error=error, p=p, i=i, d=d, raw=raw, output=output, setpoint=setpoint,
                                   measurement=measurement)

    def set_gains(self, kp: Gain | None = None, ki: Gain | None = None, kd: Gain | None = None) -> None:
        """Change gains mid-run without a bump in the output.

        ``I`` absorbs the change of the P part at the last error (``I += (Kp_old - Kp_new) e``), so
        the output the law would give at that error is unchanged. ``I`` and ``D`` hold their gains
        inside their recursions, so a new ``Ki`` or ``Kd`` acts on future errors and measurement
        changes only. (Compensating ``D`` in ``I`` as well would leave a permanent offset once the
        derivative decays.)

        Parameters
        ----------
        kp, ki, kd : float, list of R floats or FloatTensor [R], optional
            New gains (>= 0); ``None`` keeps the current one.
        """
        new = {name: self._gain(name, value) for name, value in (("kp", kp), ("ki", ki), ("kd", kd))
               if value is not None}
        kp_new, ki_new, kd_new = (new.get(name, getattr(self, name)) for name in ("kp", "ki", "kd"))
        if self.name == "p" and bool(((ki_new > 0) | (kd_new > 0)).any()):
            raise ValueError("controller.law.name='p' needs ki = kd = 0; configure 'pi' or 'pid' instead")
        if self.name == "pi" and bool((kd_new > 0).any()):
            raise ValueError("controller.law.name='pi' needs kd = 0; configure 'pid' instead")
        if self.anti_windup is None and bool((ki_new > 0).any()):
            raise ValueError("ki > 0 needs controller.law.anti_windup to be chosen; it was left unset")
        self.integral = self.integral + (self.kp - kp_new) * self.last_error
        self.kp, self.ki, self.kd = kp_new, ki_new, kd_new

    def _gain(self, name: str, value: Gain) -> torch.Tensor:
        gain = torch.as_tensor(value, dtype=self.kp.dtype, device=self.kp.device).expand_as(self.kp).clone()
        if not bool(torch.isfinite(gain).all()) or bool((gain < 0).any()):
            raise ValueError(f"controller.law.{name} must be finite and >= 0, got {value!r}")
        return gain
