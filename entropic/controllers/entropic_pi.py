"""EntroPIC's PI controller of the high-probability token weight alpha (authors' code convention).

At optimizer step ``k``, with entropy ``H_k`` (nats)::

    alpha_k = clip(Kp (H_k - target) + Ki I_k, -1, 1)     # I_k: accumulated error before this update
    I_{k+1} = I_k + (H_k - target) * integral_scale
    alpha_k = 0 when target < 0                           # disabled (authors' default target -1)

With ``anti_windup = "none"`` this is exactly the authors' rule (their integral is bounded only
by the output clip). ``clamp`` skips the accumulation while alpha is clipped and the error
pushes it further; ``back_calculation`` adds ``Kt (alpha - alpha_raw) / Ki`` to ``I``.

The authors update per micro-batch with ``integral_scale`` = micro-batch / mini-batch size and
keep the integral per process; here the law runs once per optimizer step on the entropy of the
batch the loop scored for that step (``integral_scale = 1`` gives their growth of about one error
per mini-batch).

The law outputs the effort ``u = -alpha`` (alpha > 0 lowers entropy), so the generic metrics
(``controller/p``, ``controller/i``, ``controller/raw``, ``controller/output``) are in effort
units like every other law's, ``controller/error`` is ``target - H``, and ``controller/alpha``
logs alpha itself. On the ``entropic_alpha`` actuator the written value is alpha.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

from entropic.controllers.control_laws import Metrics, StatefulLaw, law_metrics, register_control_law
from entropic.controllers.law_configs import EntroPICConfig


@register_control_law("entropic_pi", config=EntroPICConfig)
class EntroPICLaw(StatefulLaw):
    """EntroPIC PI law, vectorised over R runs.

    Parameters
    ----------
    params : SimpleNamespace
        Stacked :class:`~entropic.controllers.config.EntroPICConfig`.
    low, high : FloatTensor [R]
        The actuator's physical limits on the effort ``u = -alpha``; alpha is clipped to
        ``[-1, 1]`` intersected with ``[-high, -low]``.
    """

    _state = ("integral",)

    def __init__(self, params: SimpleNamespace, low: torch.Tensor, high: torch.Tensor) -> None:
        self.kp, self.ki, self.target = params.kp, params.ki, params.target
        self.scale = params.integral_scale
        self.anti_windup, self.tracking_gain = params.anti_windup, params.tracking_gain
        self.alpha_low = torch.clamp(-high, min=-1.0)
        self.alpha_high = torch.clamp(-low, max=1.0)
        self.enabled = self.target >= 0
        self.integral = torch.zeros_like(low)

    def step(self, step: int, measurement: torch.Tensor | None) -> tuple[torch.Tensor, Metrics]:
        """Effort ``-alpha`` ``[R]`` for the entropy ``[R]`` of step ``step``, and the step's metrics."""
        zero = torch.zeros_like(measurement)
        error = measurement - self.target  # authors' sign: H - target
        p = torch.where(self.enabled, self.kp * error, zero)
        i = torch.where(self.enabled, self.ki * self.integral, zero)
        raw = p + i
        alpha = torch.minimum(torch.maximum(raw, self.alpha_low), self.alpha_high)
        increment = error * self.scale
        if self.anti_windup == "clamp":
            increment = torch.where((raw - alpha) * increment > 0, zero, increment)
        elif self.anti_windup == "back_calculation":
            safe_ki = torch.where(self.ki > 0, self.ki, torch.ones_like(self.ki))
            increment = increment + torch.where(self.ki > 0, self.tracking_gain * (alpha - raw) / safe_ki, zero)
        self.integral = torch.where(self.enabled, self.integral + increment, self.integral)
        self.updates += 1
        return -alpha, law_metrics(error=-error, p=-p, i=-i, d=zero, raw=-raw, output=-alpha, setpoint=self.target,
                                   measurement=measurement, alpha=alpha)
