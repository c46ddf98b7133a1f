"""From a Hydra config to a ready :class:`~entropic.loop.Trainer`: validate everything, then build.

The root config (``configs/train.yaml``) has the groups ``backend`` (a ``_target_`` factory:
entropic never imports a backend package), ``objective``, ``advantage``, ``controller``, plus
``control`` (base knob values), ``trainer``, ``seed`` and ``num_runs``. :func:`validate` is the one
route every run config takes (``entropic-train``, ``entropic-design``, a study's trials, the TRL
adapter): every part is validated by its dataclass, and the per-run lists of ``control``,
``controller`` and ``backend.lr`` are expanded by :func:`~entropic.per_run.split_runs`, before the
backend is built, so a bad value fails before any work with the field's name and its allowed values.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from entropic.advantages import AdvantageConfig
from entropic.control import Control, control_from_mapping
from entropic.controllers import ControllerConfig, build_controller, controller_config_from_dict
from entropic.loop import Trainer, TrainerConfig
from entropic.objectives import Objective, ObjectiveConfig
from entropic.per_run import split_runs

ControlConfig = dataclasses.make_dataclass(
    "ControlConfig", [(f.name, Any, None) for f in dataclasses.fields(Control)])
ControlConfig.__doc__ = """Config schema of the base :class:`~entropic.control.Control`: one optional entry per field.

Each entry is ``None`` (Control's default), a number (every run) or a list of ``num_runs`` numbers
(one per run). Made from Control's own fields, so the schema cannot drift from it; typed ``Any``
because OmegaConf cannot express ``float | list[float]``, the types and limits are checked by
:func:`~entropic.control.control_from_mapping` when :class:`RunConfig` is validated.
"""


@dataclass
class RunConfig:
    """Schema of ``configs/train.yaml``.

    Attributes
    ----------
    seed : int
        Seed of run 0; run r uses ``seed + r`` unless ``run_seeds`` is given.
    run_seeds : list[int], optional
        Explicit seed of each run (length ``num_runs``); equal seeds give common random numbers,
        e.g. to compare knob values per run on the same samples.
    num_runs : int
        R, independent runs simulated together (seeds, or trials of a study).
    backend : Any
        Backend factory config with ``_target_``, validated by the backend's own dataclass when built;
        its ``lr``, when set, is checked here: a number > 0, or a list of ``num_runs`` such numbers.
    objective, advantage, trainer :
        See :class:`ObjectiveConfig`, :class:`AdvantageConfig`, :class:`TrainerConfig`.
    control : ControlConfig
        Base :class:`~entropic.control.Control` values (a number, or a list with one per run).
    controller : Any, optional
        Controller config (``law``, ``actuator``, ``sensor``, as :class:`ControllerConfig`; any
        number may be a list with one value per run); ``None`` keeps ``control`` fixed.
    resume : str, optional
        Directory of an earlier run to continue from its newest checkpoint.
    """

    seed: int = 0
    num_runs: int = 1
    run_seeds: list[int] | None = None
    backend: Any = MISSING
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    advantage: AdvantageConfig = field(default_factory=AdvantageConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    controller: Any = None
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    resume: str | None = None

    def __post_init__(self) -> None:
        if self.num_runs < 1:
            raise ValueError(f"num_runs must be >= 1, got {self.num_runs}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.run_seeds is not None and len(self.run_seeds) != self.num_runs:
            raise ValueError(f"run_seeds must hold num_runs={self.num_runs} seeds, got {len(self.run_seeds)}")
        # built here, once: a bad knob or controller fails validation
        self.base_control, self.controller_config  # noqa: B018
        if isinstance(self.backend, Mapping):
            _check_learning_rate(self.backend.get("lr"), self.num_runs)

    @cached_property
    def base_control(self) -> Control:
        """``control`` as a :class:`~entropic.control.Control`: floats, a per-run list as a tensor ``[num_runs]``."""
        return control_from_mapping(dataclasses.asdict(self.control), self.num_runs)

    @cached_property
    def controller_config(self) -> ControllerConfig | list[ControllerConfig] | None:
        """``controller`` as a :class:`ControllerConfig`, one per run when it holds per-run lists; ``None``: none."""
        if self.controller is None:
            return None
        return controller_config_from_dict(self.controller, self.num_runs)


ConfigStore.instance().store(name="run_schema", node=RunConfig)


def run_seeds(run: RunConfig) -> list[int]:
    """Seeds of the R runs: ``run_seeds`` if given, else ``seed + r``; a run alone with its seed
    reproduces the same run inside the batch."""
    if run.run_seeds is not None:
        return list(run.run_seeds)
    return [run.seed + r for r in range(run.num_runs)]


def load_run_config(path: str | Path) -> DictConfig:
    """A ``config.yaml`` written by :func:`build_trainer`, typed by the :class:`RunConfig` schema again."""
    return OmegaConf.merge(OmegaConf.structured(RunConfig), OmegaConf.load(path))


def validate(cfg: DictConfig | Mapping[str, Any], schema: type = RunConfig, where: str = "") -> Any:
    """Check every typed part of ``cfg``; raise ``ValueError`` naming the first bad or unknown field.

    ``cfg`` is a config typed by ``schema`` (:class:`RunConfig`, a subclass, or the config dataclass
    of another section such as ``tune``), or a mapping that is merged into it first; ``where`` is the
    section's config path (``""``: the root). Returns the ``schema`` object.
    """
    try:
        if not isinstance(cfg, DictConfig) or OmegaConf.get_type(cfg) is not schema:
            cfg = OmegaConf.merge(OmegaConf.structured(schema), cfg)
        _check_known_keys(cfg, schema, f"{where}." if where else "")
        return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as error:
        raise ValueError(f"invalid config: {error}") from error


def _check_learning_rate(lr: Any, num_runs: int) -> None:
    """Refuse a ``backend.lr`` that is not a number > 0 or a list of ``num_runs`` of them (``None``: the backend's)."""
    rates = split_runs(lr, num_runs, "backend.lr") or [lr]
    if lr is not None and not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
                                  and x > 0 for x in rates):
        raise ValueError(f"backend.lr must be a finite number > 0, or a list of num_runs={num_runs} such numbers "
                         f"(one per run); got {lr!r}")


def check_reachable_target(controller: ControllerConfig, max_entropy: float | None) -> None:
    """Refuse an entropy target above the backend's ``max_entropy`` (nats): no policy reaches it."""
    if max_entropy is None or not controller.sensor.name.startswith("entropy/"):
        return
    law = controller.law
    schedule = getattr(law, "setpoint_schedule", None)
    targets = {"setpoint": getattr(law, "setpoint", None), "target": getattr(law, "target", None),
               "setpoint_schedule": None if schedule is None else schedule.knob_values()}
    for name, target in targets.items():
        values = [float(x) for x in (target if isinstance(target, list | tuple) else [target]) if x is not None]
        if values:
            check_entropy_target(f"controller.law.{name} (target entropy)", max(values), max_entropy)


def check_entropy_target(field: str, target: float, max_entropy: float | None) -> None:
    """Refuse ``target`` (nats) above ``max_entropy``, the log of the backend's vocabulary, naming ``field``."""
    if max_entropy is not None and target > max_entropy:
        raise ValueError(f"{field} {target:g} nats is above what this backend's policy can reach (log of its "
                         f"vocabulary: {max_entropy:.4f} nats); choose a target in [0, {max_entropy:.4f}]")


def _check_known_keys(node: Any, schema: type, prefix: str) -> None:
    """Refuse a key that no field of the dataclass ``schema`` declares (``+trainer.stepz=5`` would be ignored)."""
    if not isinstance(node, DictConfig) or not dataclasses.is_dataclass(schema):
        return
    fields = {f.name: f.type for f in dataclasses.fields(schema)}
    hints = typing.get_type_hints(schema)
    for key in node.keys():
        if key not in fields:
            raise ValueError(f"{prefix}{key} is not a config field; allowed fields of {prefix[:-1] or 'the run'}: "
                             f"{sorted(fields)}")
        _check_known_keys(node.get(key), hints.get(key), f"{prefix}{key}.")


def _instantiate_backend(node: DictConfig, num_runs: int, seeds: list[int]) -> Any:
    """The backend ``node`` names; the backend's own ``ValueError`` (naming its field) comes out unwrapped."""
    try:
        return instantiate(node, num_runs=num_runs, seeds=seeds)
    except InstantiationException as error:
        if isinstance(error.__cause__, ValueError):
            raise error.__cause__ from None
        raise


def build_trainer(cfg: DictConfig, output_dir: str | Path) -> Trainer:
    """Validate ``cfg`` completely, then build the backend, objective, controller and trainer."""
    run = validate(cfg)
    objective = Objective(run.objective)
    seeds = run_seeds(run)
    backend = _instantiate_backend(cfg.backend, run.num_runs, seeds)
    configs = run.controller_config if isinstance(run.controller_config, list) else [run.controller_config]
    for config in (c for c in configs if c is not None):
        check_reachable_target(config, getattr(backend, "max_entropy", None))
    controller = None if run.controller_config is None else build_controller(
        run.controller_config, run.num_runs, run.base_control)
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    (Path(output_dir) / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    return Trainer(backend, objective, run.advantage, run.base_control, controller, run.trainer, output_dir, seeds)
