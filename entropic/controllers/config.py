"""Controller configuration (Hydra structured configs): a controller is law x actuator x sensor.

``ControllerConfig(law=..., actuator=..., sensor=...)``: ``law`` is one of the dataclasses of
:mod:`entropic.controllers.law_configs`, or a mapping whose ``name`` picks it
(``{"name": "pi", "kp": 0.01, ...}``), so a YAML file of ``configs/controller/`` loads with
:meth:`ControllerConfig.from_dict` (or :func:`controller_config_from_dict`, which also takes
per-run lists). Fields are plain types (floats, ints, strings, lists, ``None``). Every
dataclass validates itself in ``__post_init__``; a bad value raises ``ValueError`` naming the
field (``controller.law.kp``) and what is allowed, before any run starts.

Units: entropies (setpoints, targets) in nats; time in optimizer steps; a law's output in its
actuator's units (see :mod:`entropic.controllers.actuators`).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from entropic.controllers._checks import FromDict, from_mapping, is_number, optional_finite
from entropic.controllers.actuators import ACTUATORS
from entropic.controllers.control_laws import CONTROL_LAWS
from entropic.controllers.law_configs import ConstantConfig, PIDConfig
from entropic.observe import SENSORS
from entropic.per_run import split_runs


@dataclass
class ActuatorConfig(FromDict):
    """Which Control field(s) the law drives.

    Attributes
    ----------
    name : str
        A registered actuator: any Control field (``entropy_coeff``, ``clip_ratio_high``,
        ``kl_loss_coef``, ``top_entropy_quantile``, ``entropic_alpha``, ...) or ``pos_neg_weight``.
    bias : float, optional
        Feedback laws only: knob value at zero effort (``knob = bias + direction * u``).
        ``None``: 0 for ``entropy_coeff``, ``entropic_alpha`` and ``pos_neg_weight``, else the
        base control's value.
    """

    where: ClassVar[str] = "controller.actuator"
    name: str = "entropy_coeff"
    bias: float | None = None

    def __post_init__(self) -> None:
        ACTUATORS.get(self.name)
        optional_finite("controller.actuator.bias", self.bias)


@dataclass
class SensorConfig(FromDict):
    """Which entropy the law reads.

    Attributes
    ----------
    name : str
        A registered Observation key: ``entropy/mean``, ``entropy/p10`` / ``p50`` / ``p90`` / ``p99``,
        ``entropy/top20_mean``, ``entropy/pos_adv``, ``entropy/neg_adv``, ``entropy/sampled_nll``.
    ema : float, optional
        Exponential-moving-average factor ``beta`` in ``[0, 1)`` (``m = beta m + (1 - beta) y``);
        ``None`` reads the raw value.
    """

    where: ClassVar[str] = "controller.sensor"
    name: str = "entropy/mean"
    ema: float | None = None

    def __post_init__(self) -> None:
        SENSORS.get(self.name)
        if self.ema is not None and not (is_number(self.ema) and 0 <= self.ema < 1):
            raise ValueError(f"controller.sensor.ema must lie in [0, 1) or be null, got {self.ema!r}")


@dataclass
class ControllerConfig(FromDict):
    """A controller: law x actuator x sensor.

    Attributes
    ----------
    law : ConstantConfig | ScheduleConfig | PIDConfig | SkyworkConfig | EntroPICConfig
        The control law, or a mapping whose ``name`` selects one (``constant``, ``linear``,
        ``cosine``, ``step``, ``exponential``, ``p``, ``pi``, ``pid``, ``skywork_adaptive``,
        ``entropic_pi``). ``None`` (the default) means constant 0, i.e. no bonus; the field is
        untyped so that Hydra can merge any law's mapping into it.
    actuator : ActuatorConfig
        What the law drives. Feedback laws need an actuator with a declared direction.
    sensor : SensorConfig
        What the law reads (unused by open-loop laws, which log it when observed).
    """

    where: ClassVar[str] = "controller"
    law: Any = None
    actuator: ActuatorConfig = field(default_factory=ActuatorConfig)
    sensor: SensorConfig = field(default_factory=SensorConfig)

    def __post_init__(self) -> None:
        if self.law is None:
            self.law = ConstantConfig()
        if isinstance(self.law, Mapping):
            if "name" not in self.law:
                raise ValueError(f"controller.law.name is required; allowed values: {CONTROL_LAWS.names()}")
            self.law = from_mapping(CONTROL_LAWS.get(self.law["name"]).config, self.law, "controller.law")
        if not any(isinstance(self.law, CONTROL_LAWS.get(n).config) for n in CONTROL_LAWS.names()):
            raise ValueError(f"controller.law must be a law config or a mapping with a name; got {self.law!r}")
        if isinstance(self.actuator, Mapping):
            self.actuator = from_mapping(ActuatorConfig, self.actuator, "controller.actuator")
        if isinstance(self.sensor, Mapping):
            self.sensor = from_mapping(SensorConfig, self.sensor, "controller.sensor")
        self._check_law_on_actuator()

    def _check_law_on_actuator(self) -> None:
        spec = ACTUATORS.get(self.actuator.name)
        low, high = spec.knob_limits()
        if self.law.open_loop:
            if self.actuator.bias is not None:
                raise ValueError(f"controller.actuator.bias applies to feedback laws only; law "
                                 f"{self.law.name!r} sets the knob itself")
            for value in self.law.knob_values():
                if not low <= value <= high:
                    raise ValueError(f"controller.law value {value} is outside the physical range [{low}, {high}] "
                                     f"of actuator {spec.name!r}")
            return
        if spec.direction == 0:
            allowed = [n for n in ACTUATORS.names() if ACTUATORS.get(n).direction != 0]
            raise ValueError(f"controller.actuator.name={spec.name!r} has no declared effect on entropy, so only "
                             f"open-loop laws may drive it; actuators for feedback laws: {allowed}")
        if isinstance(self.law, PIDConfig) and self.law.anti_windup in ("clamp", "back_calculation"):
            limited = self.law.output_min is not None or self.law.output_max is not None
            if not (limited or math.isfinite(low) or math.isfinite(high)):
                raise ValueError(f"controller.law.anti_windup={self.law.anti_windup!r} needs an output limit: actuator "
                                 f"{spec.name!r} is unbounded, so set controller.law.output_min and/or output_max")


def controller_config_from_dict(data: Mapping[str, Any], num_runs: int | None = None
                                ) -> ControllerConfig | list[ControllerConfig]:
    """A controller config from a mapping (a YAML file of ``configs/controller/``), per run if asked.

    Any number may instead be a list with one value per run (``kp: [0.01, 0.02]``; for the
    list fields ``milestones`` and ``values``, a list of lists), as for the base ``control``;
    then one config per run is returned, ready for :func:`~entropic.controllers.build_controller`.

    Parameters
    ----------
    data : mapping
        ``{"law": {...}, "actuator": {...}, "sensor": {...}}``.
    num_runs : int, optional
        R: per-run lists of another length raise ``ValueError`` naming them.

    Returns
    -------
    ControllerConfig or list of ControllerConfig
        One config, or one per run when some value is per run (all such lists of the same length).
    """
    runs = split_runs(data, num_runs, "controller", _list_fields(ControllerConfig, data, "controller"))
    if runs is None:
        return ControllerConfig.from_dict(data)
    return [ControllerConfig.from_dict(run) for run in runs]


def _list_fields(cls: type, data: Any, where: str) -> set[str]:
    """Config paths of the list-typed fields in ``data`` (a mapping of ``cls`` fields): ``controller.law.values``."""
    if not isinstance(data, Mapping):
        return set()
    hints = typing.get_type_hints(cls)
    paths: set[str] = set()
    for name, value in data.items():
        hint = hints.get(name)
        if cls is ControllerConfig and name == "law":  # untyped: the law's name picks its config class
            hint = CONTROL_LAWS.get(value["name"]).config if isinstance(value, Mapping) and "name" in value else None
        types = (hint, *typing.get_args(hint))
        nested = [t for t in types if dataclasses.is_dataclass(t)]
        if nested:
            paths |= _list_fields(nested[0], value, f"{where}.{name}")
        elif any(typing.get_origin(t) is list for t in types):
            paths.add(f"{where}.{name}")
    return paths
