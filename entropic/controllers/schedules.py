"""Open-loop laws: a constant knob and schedules (linear, cosine, step, exponential) of any knob.

The output is the knob value itself (the Control field's units), a function of the optimizer
step only; the sensor is read for logging when observed. Formulas are those of
:class:`~entropic.controllers.config.ScheduleConfig`; :func:`schedule_value` also drives the
scheduled setpoint of the PID law.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch

from entropic.controllers.control_laws import Metrics, StatefulLaw, open_loop_metrics, register_control_law
from entropic.controllers.law_configs import ConstantConfig, ScheduleConfig


def schedule_value(schedule: SimpleNamespace, step: int) -> torch.Tensor:
    """Value ``[R]`` of a stacked :class:`ScheduleConfig` at optimizer step ``step`` (>= 0)."""
    k = float(step)
    if schedule.name == "step":
        passed = (schedule.milestones <= k).sum(-1, keepdim=True)  # [R, 1]
        table = torch.cat([schedule.start[:, None], schedule.values], dim=-1)  # [R, 1 + n]
        return table.gather(-1, passed).squeeze(-1)
    if schedule.name == "exponential":
        return schedule.end + (schedule.start - schedule.end) * torch.exp(-k / schedule.steps)
    progress = torch.clamp(k / schedule.steps, max=1.0)
    if schedule.name == "linear":
        return schedule.start + (schedule.end - schedule.start) * progress
    return schedule.end + (schedule.start - schedule.end) * 0.5 * (1.0 + torch.cos(math.pi * progress))


@register_control_law("linear", "cosine", "step", "exponential", config=ScheduleConfig)
class ScheduleLaw(StatefulLaw):
    """Sets the knob to a schedule of the step, clipped to the actuator's physical limits.

    Parameters
    ----------
    params : SimpleNamespace
        Stacked :class:`ScheduleConfig` (tensors ``[R]``).
    low, high : FloatTensor [R]
        Knob limits.
    """

    def __init__(self, params: SimpleNamespace, low: torch.Tensor, high: torch.Tensor) -> None:
        self.schedule = params
        self.low, self.high = low, high

    def step(self, step: int, measurement: torch.Tensor | None) -> tuple[torch.Tensor, Metrics]:
        """The scheduled knob value ``[R]`` at ``step`` and the step's metrics."""
        raw = schedule_value(self.schedule, step)
        output = torch.minimum(torch.maximum(raw, self.low), self.high)
        self.updates += 1
        return output, open_loop_metrics(raw, output, measurement)


@register_control_law("constant", config=ConstantConfig)
class ConstantLaw(StatefulLaw):
    """Holds the knob at ``value``, clipped to the actuator's physical limits.

    Parameters
    ----------
    params : SimpleNamespace
        Stacked :class:`ConstantConfig`.
    low, high : FloatTensor [R]
        Knob limits.
    """

    def __init__(self, params: SimpleNamespace, low: torch.Tensor, high: torch.Tensor) -> None:
        self.value = torch.minimum(torch.maximum(params.value, low), high)
        self.raw = params.value

    def step(self, step: int, measurement: torch.Tensor | None) -> tuple[torch.Tensor, Metrics]:
        """The constant knob value ``[R]`` and the step's metrics."""
        self.updates += 1
        return self.value.clone(), open_loop_metrics(self.raw, self.value, measurement)
