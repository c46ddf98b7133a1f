"""Configs of the control laws, one dataclass per family (Hydra structured configs).

``ConstantConfig`` and ``ScheduleConfig`` are open-loop (their output is the knob value);
``PIDConfig``, ``SkyworkConfig`` and ``EntroPICConfig`` are feedback laws (their output is an
effort, ``u > 0`` raises entropy). The ``name`` field selects the registered law. Every
dataclass validates itself in ``__post_init__``; a bad value raises ``ValueError`` naming the
field (``controller.law.kp``) and what is allowed. Entropies in nats, time in optimizer steps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from entropic.controllers._checks import FromDict, choice, finite, from_mapping, is_number, optional_finite
from entropic.controllers.control_laws import CONTROL_LAWS

ANTI_WINDUP = ["none", "clamp", "back_calculation"]
"""Anti-windup choices: none, clamping (conditional integration), back-calculation (tracking)."""


def _check_name(config: Any) -> None:
    spec = CONTROL_LAWS.get(config.name)
    if spec.config is not type(config):
        names = [n for n in CONTROL_LAWS.names() if CONTROL_LAWS.get(n).config is type(config)]
        raise ValueError(f"controller.law.name={config.name!r} is not a {type(config).__name__} law; "
                         f"allowed values: {names}")


@dataclass
class ConstantConfig(FromDict):
    """Open-loop constant knob.

    Attributes
    ----------
    name : str
        ``"constant"``.
    value : float
        Knob value every step, in the actuator's units (the Control field's own; for
        ``pos_neg_weight`` the offset ``d``). Default 0: no entropy bonus (verl, TRL default).
    """

    open_loop: ClassVar[bool] = True
    name: str = "constant"
    value: float = 0.0

    def __post_init__(self) -> None:
        _check_name(self)
        finite("controller.law.value", self.value)

    def knob_values(self) -> list[float]:
        """Every knob value this law can output."""
        return [self.value]


@dataclass
class ScheduleConfig(FromDict):
    """Open-loop schedule of a knob (or of a PID setpoint), a function of the optimizer step ``k``.

    - ``linear``: ``start + (end - start) * min(k / steps, 1)``.
    - ``cosine``: ``end + (start - end) * (1 + cos(pi * min(k / steps, 1))) / 2``.
    - ``exponential``: ``end + (start - end) * exp(-k / steps)`` (decay when ``start > end``,
      warm-up when ``start < end``; ``steps`` is the time constant).
    - ``step``: ``start`` before ``milestones[0]``, then ``values[i]`` from ``milestones[i]`` on.

    Attributes
    ----------
    name : str
        ``linear``, ``cosine``, ``step`` or ``exponential``.
    start, end : float
        Value at ``k = 0`` and final value (``end`` is unused by ``step``), in the knob's units.
    steps : int
        Duration (linear, cosine) or time constant (exponential), optimizer steps, >= 1.
    milestones : list[int]
        ``step`` only: strictly increasing steps >= 0 at which the value changes.
    values : list[float]
        ``step`` only: value from each milestone on (same length as ``milestones``).
    """

    open_loop: ClassVar[bool] = True
    name: str = "linear"
    start: float = 0.0
    end: float = 0.0
    steps: int = 1
    milestones: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_name(self)
        self.milestones, self.values = list(self.milestones), list(self.values)
        finite("controller.law.start", self.start)
        finite("controller.law.end", self.end)
        if not (isinstance(self.steps, int) and not isinstance(self.steps, bool) and self.steps >= 1):
            raise ValueError(f"controller.law.steps must be an integer >= 1, got {self.steps!r}")
        if self.name != "step":
            if self.milestones or self.values:
                raise ValueError(f"controller.law.milestones/values are used by the 'step' schedule only; "
                                 f"the {self.name!r} schedule needs start, end, steps")
            return
        if not self.milestones or len(self.values) != len(self.milestones):
            raise ValueError(f"controller.law.milestones and values must be non-empty lists of the same length, "
                             f"got {self.milestones} and {self.values}")
        if not all(isinstance(m, int) and not isinstance(m, bool) and m >= 0 for m in self.milestones):
            raise ValueError(f"controller.law.milestones must be integers >= 0, got {self.milestones}")
        if any(b <= a for a, b in zip(self.milestones, self.milestones[1:], strict=False)):
            raise ValueError(f"controller.law.milestones must be strictly increasing, got {self.milestones}")
        for value in self.values:
            finite("controller.law.values", value)

    def knob_values(self) -> list[float]:
        """Every value the schedule passes through or ends at (its extremes are among them)."""
        return [self.start, *self.values] if self.name == "step" else [self.start, self.end]


@dataclass
class PIDConfig(FromDict):
    """Discrete P / PI / PID law on ``e = setpoint - measurement`` (entropy too low -> ``e > 0``).

    ``u_k = Kp e_k + I_k + D_k``; ``I_{k+1} = I_k + Ki e_k`` (with anti-windup, below);
    ``D_k = a D_{k-1} - Kd (1 - a) (y_k - y_{k-1})`` on the measurement, ``a = tau / (tau + 1)``.
    The output is an effort (``u > 0`` raises entropy) in the actuator's units, clipped to the
    output limits (intersected with the actuator's physical limits) after the rate limit.

    Attributes
    ----------
    name : str
        ``p`` (``ki = kd = 0``), ``pi`` (``kd = 0``) or ``pid``.
    kp : float
        Proportional gain, output units per nat, >= 0.
    ki : float
        Integral gain, output units per nat per step, >= 0. ``ki > 0`` requires ``anti_windup``.
    kd : float
        Derivative gain, output units per (nat / step), >= 0.
    setpoint : float, optional
        Constant target entropy (nats, >= 0). Exactly one of ``setpoint``, ``setpoint_schedule``.
    setpoint_schedule : ScheduleConfig, optional
        Target entropy as a schedule of the step (nats).
    output_min, output_max : float, optional
        Output limits (effort units); ``None`` = the actuator's physical limit only.
    rate_limit : float, optional
        Largest ``|u_k - u_{k-1}|`` per step (> 0); ``u_{-1} = 0``, the base control.
    derivative_tau : float
        Time constant of the derivative's first-order filter, steps, >= 0 (0 = unfiltered).
    anti_windup : str, optional
        ``none``, ``clamp`` (conditional integration: skip ``Ki e`` while saturated and ``e``
        pushes further into saturation) or ``back_calculation`` (``I += Ki e + Kt (u_sat - u_raw)``).
        Required when ``ki > 0``; ``clamp`` and ``back_calculation`` need an output limit.
    tracking_gain : float
        Back-calculation gain ``Kt`` in ``(0, 2)`` (1 resets the excess in one step).
    """

    open_loop: ClassVar[bool] = False
    name: str = "pi"
    kp: float = 0.0
    ki: float = 0.0
    kd: float = 0.0
    setpoint: float | None = None
    setpoint_schedule: ScheduleConfig | None = None
    output_min: float | None = None
    output_max: float | None = None
    rate_limit: float | None = None
    derivative_tau: float = 0.0
    anti_windup: str | None = None
    tracking_gain: float = 1.0

    def __post_init__(self) -> None:
        _check_name(self)
        if isinstance(self.setpoint_schedule, Mapping):
            self.setpoint_schedule = from_mapping(ScheduleConfig, self.setpoint_schedule,
                                                   "controller.law.setpoint_schedule")
        for gain in ("kp", "ki", "kd"):
            finite(f"controller.law.{gain}", getattr(self, gain), low=0.0)
        if self.name == "p" and (self.ki or self.kd):
            raise ValueError(f"controller.law.name='p' needs ki = kd = 0, got ki={self.ki}, kd={self.kd}; "
                             f"use 'pi' or 'pid'")
        if self.name == "pi" and self.kd:
            raise ValueError(f"controller.law.name='pi' needs kd = 0, got kd={self.kd}; use 'pid'")
        if (self.setpoint is None) == (self.setpoint_schedule is None):
            raise ValueError("controller.law: set exactly one of setpoint (a constant target entropy, nats) "
                             "and setpoint_schedule")
        optional_finite("controller.law.setpoint", self.setpoint, low=0.0)
        if self.setpoint_schedule is not None:
            for value in self.setpoint_schedule.knob_values():
                finite("controller.law.setpoint_schedule (target entropy, nats)", value, low=0.0)
        optional_finite("controller.law.output_min", self.output_min)
        optional_finite("controller.law.output_max", self.output_max)
        if self.output_min is not None and self.output_max is not None and self.output_min > self.output_max:
            raise ValueError(f"controller.law.output_min must be <= output_max, got "
                             f"{self.output_min} > {self.output_max}")
        if self.rate_limit is not None and not (is_number(self.rate_limit) and self.rate_limit > 0):
            raise ValueError(f"controller.law.rate_limit must be > 0 or null, got {self.rate_limit!r}")
        finite("controller.law.derivative_tau", self.derivative_tau, low=0.0)
        if self.anti_windup is not None:
            choice("controller.law.anti_windup", self.anti_windup, ANTI_WINDUP)
        elif self.ki > 0:
            raise ValueError(f"controller.law.anti_windup must be chosen when ki > 0; allowed values: {ANTI_WINDUP} "
                             f"('none' accepts integrator windup)")
        if not (is_number(self.tracking_gain) and 0 < self.tracking_gain < 2):
            raise ValueError(f"controller.law.tracking_gain must lie in (0, 2), got {self.tracking_gain!r}")


@dataclass
class SkyworkConfig(FromDict):
    """Skywork-OR1's adaptive entropy coefficient (TRL ``use_adaptive_entropy``).

    Applied during step ``k``: ``c_k * 1[H_{k-1} <= target]`` (the gate reads the previous
    step's entropy; ``H_{-1} = +inf``, so no bonus on the first step). After step ``k``:
    ``c_{k+1} = clip(c_k + delta, c_min, c_max)`` if ``H_k <= target`` else
    ``clip(c_k - delta, c_min, c_max)``. With ``strict`` both comparisons are ``<`` (Skywork's
    code). One-sided by design: the bonus is 0 whenever entropy is above target, so the rule
    can raise entropy but never lowers it.

    Attributes
    ----------
    name : str
        ``"skywork_adaptive"``.
    target : float
        Target entropy, nats, >= 0 (TRL ``entropy_target`` 0.2; Skywork ``target_entropy`` 0.2).
    delta : float
        Coefficient step per optimizer step, >= 0 (TRL ``entropy_coef_delta`` 0.005; Skywork 1e-4).
    coef_init : float
        Initial coefficient ``c_0``, within ``[coef_min, coef_max]`` (TRL ``entropy_coef`` 0; Skywork 0).
    coef_min, coef_max : float
        Coefficient range (TRL 0 and 1; Skywork 0 and 0.005).
    strict : bool
        Compare with ``<`` instead of ``<=`` (Skywork ``True``, TRL ``False``).
    """

    open_loop: ClassVar[bool] = False
    name: str = "skywork_adaptive"
    target: float = 0.2
    delta: float = 0.005
    coef_init: float = 0.0
    coef_min: float = 0.0
    coef_max: float = 1.0
    strict: bool = False

    def __post_init__(self) -> None:
        _check_name(self)
        finite("controller.law.target", self.target, low=0.0)
        finite("controller.law.delta", self.delta, low=0.0)
        for name in ("coef_init", "coef_min", "coef_max"):
            finite(f"controller.law.{name}", getattr(self, name))
        if not self.coef_min <= self.coef_max:
            raise ValueError(f"controller.law.coef_min must be <= coef_max, got {self.coef_min} > {self.coef_max}")
        if not self.coef_min <= self.coef_init <= self.coef_max:
            raise ValueError(f"controller.law.coef_init must lie in [coef_min, coef_max] = "
                             f"[{self.coef_min}, {self.coef_max}], got {self.coef_init}")
        if not isinstance(self.strict, bool):
            raise ValueError(f"controller.law.strict must be true or false, got {self.strict!r}")


@dataclass
class EntroPICConfig(FromDict):
    """EntroPIC's PI controller of the high-probability token weight alpha (authors' code convention).

    ``alpha = clip(kp * (H - target) + ki * I, -1, 1)`` with ``I`` the accumulated error before
    this update, then ``I += (H - target) * integral_scale``; ``alpha = 0`` when ``target < 0``
    (disabled, as in the authors' code). The law's output is the effort ``u = -alpha`` (alpha > 0
    lowers entropy), so on the ``entropic_alpha`` actuator the written value is alpha itself.

    Attributes
    ----------
    name : str
        ``"entropic_pi"``.
    kp : float
        Proportional gain, alpha per nat, >= 0 (authors' ``entropy_control_p`` 1).
    ki : float
        Integral gain, alpha per accumulated nat, >= 0 (authors' ``entropy_control_i`` 0.01).
    target : float
        Target entropy, nats; negative disables (authors' default -1, their run script 0.1).
    integral_scale : float
        Weight of each error in ``I`` (authors: micro-batch / mini-batch size; 1 = one error per
        optimizer step), > 0.
    anti_windup : str
        ``none`` (the authors' rule: ``I`` bounded only by the output clip), ``clamp`` or
        ``back_calculation`` (this package's improvement).
    tracking_gain : float
        Back-calculation gain in ``(0, 2)``.
    """

    open_loop: ClassVar[bool] = False
    name: str = "entropic_pi"
    kp: float = 1.0
    ki: float = 0.01
    target: float = 0.1
    integral_scale: float = 1.0
    anti_windup: str = "none"
    tracking_gain: float = 1.0

    def __post_init__(self) -> None:
        _check_name(self)
        finite("controller.law.kp", self.kp, low=0.0)
        finite("controller.law.ki", self.ki, low=0.0)
        finite("controller.law.target", self.target)
        if not (is_number(self.integral_scale) and math.isfinite(self.integral_scale) and self.integral_scale > 0):
            raise ValueError(f"controller.law.integral_scale must be a finite number > 0, got {self.integral_scale!r}")
        choice("controller.law.anti_windup", self.anti_windup, ANTI_WINDUP)
        if not (is_number(self.tracking_gain) and 0 < self.tracking_gain < 2):
            raise ValueError(f"controller.law.tracking_gain must lie in (0, 2), got {self.tracking_gain!r}")
