"""Schema of ``configs/design/default.yaml``: what ``entropic-design`` identifies, designs and validates.

The root is a training config (:class:`~entropic.experiment.RunConfig`: backend, objective,
advantage, base control, seed) plus a ``design`` section (:class:`DesignConfig`). Units: entropies
in nats, time in optimizer steps (the sample time), knob values in the actuator's own units
(the Control field; for ``pos_neg_weight`` the offset ``d``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from entropic.controllers import ACTUATORS, ANTI_WINDUP
from entropic.experiment import RunConfig
from entropic.observe import SENSORS

RULES = ("simc", "imc", "zn")
"""Tuning rules: Skogestad's SIMC, IMC (Rivera, Morari & Skogestad), Ziegler-Nichols (ultimate point)."""


@dataclass
class OperatingPointConfig:
    """Where to linearise: the constant knob that holds the sensor at the target.

    Attributes
    ----------
    knob : float, optional
        Known operating-point knob; ``None`` (default) searches for it on ``grid``.
    grid : list of float
        ``[low, high]`` knob range of the search (geometric spacing when both are > 0).
    points : int
        Constant-knob runs of one search pass (>= 2), simulated together.
    steps : int
        Steps of each search run (>= 10).
    window : int
        Last steps averaged for each run's level (1 to ``steps``).
    passes : int
        Search passes (>= 1); each next pass spans the bracket found by the last one.
    runaway : float
        Share of the backend's maximum entropy (its ``max_entropy``) at which a level counts as a
        runaway: the policy near uniform (the toy LM's entropy jumps there past some entropy bonus).
        The knob limits stop at the first such knob and the excitation stays clear of it. In (0, 1].
    """

    knob: float | None = None
    grid: list[float] = field(default_factory=lambda: [0.05, 1.0])
    points: int = 8
    steps: int = 300
    window: int = 50
    passes: int = 1
    runaway: float = 0.9

    def __post_init__(self) -> None:
        if self.knob is not None and not math.isfinite(self.knob):
            raise ValueError(f"design.operating_point.knob must be a finite number or null, got {self.knob}")
        if len(self.grid) != 2 or not self.grid[0] < self.grid[1]:
            raise ValueError(f"design.operating_point.grid must be [low, high] with low < high, got {self.grid}")
        if self.points < 2 or self.steps < 10 or not 1 <= self.window <= self.steps or self.passes < 1:
            raise ValueError("design.operating_point needs points >= 2, steps >= 10, 1 <= window <= steps and "
                             f"passes >= 1; got {self.points}, {self.steps}, {self.window}, {self.passes}")
        if not 0 < self.runaway <= 1:
            raise ValueError(f"design.operating_point.runaway must lie in (0, 1] (a share of the maximum entropy), "
                             f"got {self.runaway}")


@dataclass
class ExcitationConfig:
    """Open-loop identification experiment: hold the operating point, then excite around it.

    Attributes
    ----------
    warmup : int
        Steps at the operating-point knob before the excitation (>= 0): the plant drifts to the target.
    steps : int
        Excitation steps recorded for the fit (>= 20).
    amplitudes : list of float
        PRBS / step amplitudes in knob units (> 0); training runs cycle through them.
    period : int
        PRBS clock period, steps a bit is held (>= 1).
    order : int
        PRBS shift-register length (3 to 10).
    train_runs : int
        PRBS runs the models are fitted on (>= 1).
    held_out_runs : int
        Further PRBS runs (other seeds, other realisation) used only to score the models (>= 1).
    held_out_steps : bool
        Also hold out one step up and one step down of the first amplitude.
    """

    warmup: int = 300
    steps: int = 300
    amplitudes: list[float] = field(default_factory=lambda: [0.1])
    period: int = 20
    order: int = 7
    train_runs: int = 4
    held_out_runs: int = 2
    held_out_steps: bool = True

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.steps < 20 or self.period < 1 or not 3 <= self.order <= 10:
            raise ValueError("design.excitation needs warmup >= 0, steps >= 20, period >= 1, 3 <= order <= 10")
        if not self.amplitudes or any(not a > 0 for a in self.amplitudes):
            raise ValueError(f"design.excitation.amplitudes must be positive knob changes, got {self.amplitudes}")
        if self.train_runs < 1 or self.held_out_runs < 1:
            raise ValueError("design.excitation needs train_runs >= 1 and held_out_runs >= 1")


@dataclass
class ModelsConfig:
    """Model structures fitted and compared on the held-out runs.

    Attributes
    ----------
    kinds : list of str
        Any of ``fopdt``, ``integrating``, ``arx``.
    arx_orders : list of int
        ``[na, nb, nk]`` of the ARX model (``nk >= 1``).
    max_dead_time : int
        Largest dead time (steps beyond the sample-and-hold step) tried by ``fopdt`` / ``integrating``.
    """

    kinds: list[str] = field(default_factory=lambda: ["fopdt", "integrating", "arx"])
    arx_orders: list[int] = field(default_factory=lambda: [2, 2, 1])
    max_dead_time: int = 3

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - {"fopdt", "integrating", "arx"})
        if not self.kinds or unknown:
            raise ValueError(f"design.models.kinds must name fopdt, integrating or arx, got {self.kinds}")
        if len(self.arx_orders) != 3 or self.arx_orders[1] < 1 or self.arx_orders[2] < 1 or self.arx_orders[0] < 0:
            raise ValueError(f"design.models.arx_orders must be [na >= 0, nb >= 1, nk >= 1], got {self.arx_orders}")
        if self.max_dead_time < 0:
            raise ValueError(f"design.models.max_dead_time must be >= 0, got {self.max_dead_time}")


@dataclass
class ValidationConfig:
    """Closed-loop runs of the designed controller on the backend.

    Attributes
    ----------
    seeds : int
        Runs (seeds) of each validation experiment (>= 1); 0 skips validation.
    steps : int
        Length of the tracking runs (and of the uncontrolled baseline).
    band : float
        Relative band around the target counted as holding it (0.1 = +-10%).
    from_step : int
        First step of the band check.
    step_at : int
        Setpoint-step test: step at which the setpoint moves by ``step_size``.
    step_size : float
        Setpoint change of the step test, nats (0 skips the step test).
    step_steps : int
        Steps recorded after the setpoint step.
    settling_threshold : float
        Settling band of ``control.step_info`` as a fraction of the step (0.1 = 10%: wide enough for
        the seed-to-seed noise of an RL run).
    """

    seeds: int = 5
    steps: int = 1000
    band: float = 0.1
    from_step: int = 200
    step_at: int = 400
    step_size: float = 0.2
    step_steps: int = 300
    settling_threshold: float = 0.1

    def __post_init__(self) -> None:
        if self.seeds < 0 or self.steps < 1 or not 0 < self.band < 1 or not 0 <= self.from_step < self.steps:
            raise ValueError("design.validation needs seeds >= 0, steps >= 1, 0 < band < 1, 0 <= from_step < steps")
        if not math.isfinite(self.step_size):
            raise ValueError(f"design.validation.step_size must be a finite number (nats), got {self.step_size}")
        if self.step_at < 1 or self.step_steps < 2 or not 0 < self.settling_threshold < 1:
            raise ValueError("design.validation needs step_at >= 1, step_steps >= 2, 0 < settling_threshold < 1")


@dataclass
class DesignConfig:
    """The ``design`` section: actuator, sensor, target, experiments and tuning rule.

    Attributes
    ----------
    actuator : str
        Registered actuator the controller drives (``entropy_coeff``, ``pos_neg_weight``, ...).
    sensor : str
        Observation key it reads (``entropy/mean``, ...).
    target : float
        Target entropy (nats, > 0): the setpoint and the operating point of the identification.
    rule : str
        ``simc`` (Skogestad 2003), ``imc`` (Rivera, Morari & Skogestad 1986) or ``zn`` (Ziegler-Nichols).
    tau_c : float
        Desired closed-loop time constant (SIMC tau_c, IMC lambda), steps (> 0).
    limits : list of float, optional
        ``[low, high]`` knob limits of the designed controller; ``None`` = the actuator's physical range.
    anti_windup : str
        ``clamp`` (conditional integration, default), ``back_calculation`` or ``none``.
    horizon : int
        Steps of the predicted step responses (python-control), >= 10.
    """

    actuator: str = "entropy_coeff"
    sensor: str = "entropy/mean"
    target: float = 1.5
    rule: str = "simc"
    tau_c: float = 25.0
    limits: list[float] | None = field(default_factory=lambda: [-0.5, 1.5])
    anti_windup: str = "clamp"
    horizon: int = 400
    operating_point: OperatingPointConfig = field(default_factory=OperatingPointConfig)
    excitation: ExcitationConfig = field(default_factory=ExcitationConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)

    def __post_init__(self) -> None:
        for name, registry in (("actuator", ACTUATORS), ("sensor", SENSORS)):
            if getattr(self, name) not in registry:
                raise ValueError(f"design.{name}={getattr(self, name)!r} is not known; allowed values: "
                                 f"{registry.names()}")
        if ACTUATORS.get(self.actuator).direction == 0:
            raise ValueError(f"design.actuator={self.actuator!r} has no declared effect on entropy; pick one of "
                             f"{[n for n in ACTUATORS.names() if ACTUATORS.get(n).direction != 0]}")
        if not (math.isfinite(self.target) and self.target > 0):
            raise ValueError(f"design.target must be a positive entropy (nats), got {self.target}")
        if self.rule not in RULES:
            raise ValueError(f"design.rule must be one of {list(RULES)}, got {self.rule!r}")
        if not self.tau_c > 0:
            raise ValueError(f"design.tau_c must be > 0 steps, got {self.tau_c}")
        if self.limits is not None and (len(self.limits) != 2 or not self.limits[0] < self.limits[1]):
            raise ValueError(f"design.limits must be [low, high] with low < high, or null; got {self.limits}")
        if self.anti_windup not in ANTI_WINDUP:
            raise ValueError(f"design.anti_windup must be one of {ANTI_WINDUP}, got {self.anti_windup!r}")
        if self.horizon < 10:
            raise ValueError(f"design.horizon must be >= 10 steps, got {self.horizon}")


@dataclass
class DesignRunConfig(RunConfig):
    """Root schema of ``configs/design/default.yaml``: a training config plus :class:`DesignConfig`."""

    design: DesignConfig = field(default_factory=DesignConfig)


ConfigStore.instance().store(name="design_schema", node=DesignRunConfig)
