"""Skywork-OR1's adaptive entropy coefficient (TRL ``use_adaptive_entropy``), as a registered law.

At optimizer step ``k`` the controller sees the step's entropy ``H_k`` and::

    applied during step k:  alpha_k = c_k * 1[H_{k-1} <= target]     # gate on the previous step, H_{-1} = +inf
    after step k:           c_{k+1} = clip(c_k + delta, c_min, c_max)   if H_k <= target
                                    = clip(c_k - delta, c_min, c_max)   otherwise

(``<`` instead of ``<=`` with ``strict``, Skywork's own code). This is TRL's order of
operations: the coefficient applied in step ``k`` does not depend on ``H_k``. The output is
the applied coefficient ``alpha_k``, an effort (a positive bonus raises entropy), normally
driving ``entropy_coeff``.

One-sided by design: the bonus is exactly 0 while entropy is above target, so the rule can
raise entropy but never actively lowers it; with entropy hovering at the target the
coefficient oscillates by ``delta``. Use a PI/PID for two-sided control.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch

from entropic.controllers.control_laws import Metrics, StatefulLaw, law_metrics, register_control_law
from entropic.controllers.law_configs import SkyworkConfig


@register_control_law("skywork_adaptive", config=SkyworkConfig)
class SkyworkLaw(StatefulLaw):
    """Bang-bang integral control of the entropy-bonus coefficient, gated on the previous entropy.

    Parameters
    ----------
    params : SimpleNamespace
        Stacked :class:`~entropic.controllers.config.SkyworkConfig`.
    low, high : FloatTensor [R]
        The actuator's physical output limits (the applied value is clipped to them).

    Notes
    -----
    Metrics: ``controller/i`` is the coefficient ``c_k``, ``controller/gate`` the gate (0 or 1),
    ``controller/raw`` the applied ``c_k * gate``; ``controller/p`` and ``controller/d`` are 0.
    """

    _state = ("coef", "last_measurement")

    def __init__(self, params: SimpleNamespace, low: torch.Tensor, high: torch.Tensor) -> None:
        self.target, self.delta = params.target, params.delta
        self.coef_min, self.coef_max = params.coef_min, params.coef_max
        self.strict = params.strict
        self.low, self.high = low, high
        self.coef = params.coef_init.clone()
        self.last_measurement = torch.full_like(low, math.inf)

    def _below(self, entropy: torch.Tensor) -> torch.Tensor:
        return entropy < self.target if self.strict else entropy <= self.target

    def step(self, step: int, measurement: torch.Tensor | None) -> tuple[torch.Tensor, Metrics]:
        """Applied coefficient ``[R]`` for step ``step``, given that step's entropy ``[R]``, and the metrics."""
        gate = self._below(self.last_measurement).to(self.coef.dtype)
        coef = self.coef
        raw = coef * gate
        output = torch.minimum(torch.maximum(raw, self.low), self.high)
        moved = torch.where(self._below(measurement), coef + self.delta, coef - self.delta)
        self.coef = torch.minimum(torch.maximum(moved, self.coef_min), self.coef_max)
        self.last_measurement = measurement
        self.updates += 1
        zero = torch.zeros_like(raw)
        return output, law_metrics(error=self.target - measurement, p=zero, i=coef, d=zero, raw=raw, output=output,
                                   setpoint=self.target, measurement=measurement, gate=gate)
