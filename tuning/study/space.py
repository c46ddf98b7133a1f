"""Search spaces: which knobs a study tunes, their ranges, and how a trial samples them.

A space (``tune.space``) has shared ``params``, sampled in every trial, and conditional branches
(:class:`Branch`, an entry of ``branches``: most branches stand for one control law), one chosen
per trial (a categorical ``law`` parameter when there are several), each with its own controller
preset and the params of that branch only. Params are a tree whose paths
are the ``entropic-train`` config paths of the knobs::

    params:
      control:                          # any Control field
        clip_ratio_high: {low: 0.2, high: 0.4}
      backend:
        lr: {low: 8.0, high: 64.0, log: true}         # per run
        off_policy_share: {choices: [0.125, 0.25]}    # LUFFY's share: one simulation per value
      trainer:                          # only SENT's curriculum schedule
        curriculum:
          refresh_every: {low: 5, high: 50, int: true}
    branches:
      pi:
        controller: pi_entropy_coeff    # configs/controller/ preset, a YAML path, or null (the study's)
        method: null                    # configs/method/ preset, or null (the study's)
        fixed:                          # values set in every trial of this branch
          controller: {law: {setpoint: 1.0}}
        params:
          controller:
            law:
              kp: {low: 1.0e-3, high: 3.0, log: true}
              setpoint: {low: 0.5, high: 2.5}

A leaf is ``{low, high, log, step, int}`` (float, or integer with ``int: true``) or
``{choices: [...]}``. Every path, range and choice is checked against the config dataclasses
before any trial runs; a bad one raises :class:`SearchSpaceError` naming it.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.resources
import math
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from omegaconf import DictConfig, OmegaConf

from entropic.advantages import AdvantageConfig
from entropic.control import control_fields
from entropic.controllers import CONTROL_LAWS, ActuatorConfig, ControllerConfig, SensorConfig
from entropic.curriculum import CurriculumConfig
from entropic.experiment import validate
from entropic.objectives import ObjectiveConfig
from entropic.tuning.study.batch import SHARED_BACKEND_KNOBS, Method

ROOTS = ("control", "controller", "backend", "objective", "advantage", "trainer")
"""What a param path may start with: knobs, the controller, the learning rate and LUFFY's demonstration share,
the method's config fields (``advantage.seed_alpha``) and SENT's curriculum schedule
(``trainer.curriculum.refresh_every``): trials that differ in the last three run as separate simulations
(:meth:`Method.structure`)."""

CONFIGS = {"objective": ObjectiveConfig, "advantage": AdvantageConfig}
"""The config dataclass of each method-config root."""

LEAF_KEYS = frozenset({"low", "high", "log", "step", "int", "choices"})
BRANCH_PARAM = "branch"
"""Name of the categorical parameter choosing between several branches (the keys of ``tune.space.branches``)."""


class SearchSpaceError(ValueError):
    """A search-space config that cannot be sampled; the message names the param and what is allowed."""


@dataclasses.dataclass(frozen=True)
class Param:
    """One tuned knob.

    Attributes
    ----------
    path : str
        Config path of the knob (``control.clip_ratio_high``, ``controller.law.kp``, ``backend.lr``).
    name : str
        Optuna parameter name: the path, prefixed ``<branch>:`` for a branch's param when there are several.
    low, high : float, optional
        Range (inclusive); ``None`` for a categorical param.
    log : bool
        Log-uniform (``low > 0``).
    step : float, optional
        Discretisation step (not with ``log``).
    integer : bool
        Sample an integer.
    choices : tuple, optional
        Categorical choices.
    """

    path: str
    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    integer: bool = False
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: optuna.Trial) -> Any:
        """Sample this param in ``trial``."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def corners(self) -> list[Any]:
        """Values whose validity stands for the whole range: the bounds, or every choice."""
        if self.choices is not None:
            return list(self.choices)
        return [int(self.low), int(self.high)] if self.integer else [self.low, self.high]


@dataclasses.dataclass(frozen=True)
class Branch:
    """A conditional branch of a search space (an entry of ``tune.space.branches``): its base method and params."""

    name: str
    base: Method
    params: tuple[Param, ...]


def load_preset(group: str, name: str) -> dict[str, Any]:
    """A YAML of the config tree (``configs/<group>/<name>.yaml``) or a YAML file path, as a dict.

    A controller YAML may hold the controller at its top (``law``, ``actuator``, ``sensor``) or
    under a ``controller`` key (a full run config, e.g. a design output).
    """
    path = Path(name)
    if name.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise SearchSpaceError(f"{group} YAML {name!r} does not exist")
        data = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    else:
        folder = importlib.resources.files("entropic.configs").joinpath(group)
        resource = folder.joinpath(f"{name}.yaml")
        if not resource.is_file():
            available = sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))
            raise SearchSpaceError(f"unknown {group} preset {name!r}; available: {available}")
        data = OmegaConf.to_container(OmegaConf.create(resource.read_text()), resolve=True)
    if not isinstance(data, dict):
        raise SearchSpaceError(f"{group} YAML {name!r} must hold a mapping")
    if group == "controller" and "law" not in data and isinstance(data.get("controller"), dict):
        data = data["controller"]
    return data


def method_from_config(cfg: DictConfig | Mapping[str, Any]) -> Method:
    """The study's base method from a run config (``objective``, ``advantage``, ``control``, ``controller``),
    validated as the config of one run: a knob that is not one number raises ``ValueError`` naming it."""
    data = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    control = {name: value for name, value in (data.get("control") or {}).items() if value is not None}
    method = Method(objective=dict(data.get("objective") or {}), advantage=dict(data.get("advantage") or {}),
                    control=control, controller=copy.deepcopy(data.get("controller")), lr=None)
    knobs = validate(method.run_config()).base_control
    method.control = {name: float(getattr(knobs, name)) for name in control}
    return method


def method_from_presets(base: Method, preset: str | None = None, controller: str | None = None,
                        keep_controller: bool = True) -> Method:
    """``base`` with a method preset (``configs/method/``: objective, advantage, control) and/or a controller
    preset applied."""
    method = copy.deepcopy(base)
    if preset is not None:
        values = load_preset("method", preset)
        method.objective = dict(values.get("objective") or {})
        method.advantage = dict(values.get("advantage") or {})
        method.control = {**method.control, **{k: float(v) for k, v in (values.get("control") or {}).items()}}
    if controller is not None:
        method.controller = load_preset("controller", controller)
    elif not keep_controller:
        method.controller = None
    return method


def set_path(method: Method, path: str, value: Any) -> None:
    """Write ``value`` at config path ``path`` of ``method`` (in place)."""
    root, *rest = path.split(".")
    if root == "control":
        method.control[rest[0]] = float(value)
    elif root in CONFIGS:
        getattr(method, root)[rest[0]] = value
    elif root == "backend" and rest == ["lr"]:
        method.lr = float(value)
    elif root == "backend":
        method.backend[rest[0]] = value
    elif root == "trainer":
        method.curriculum[rest[1]] = value
    else:
        node = method.controller
        for key in rest[:-1]:
            if node.get(key) is None:
                node[key] = {}
            node = node[key]
        node[rest[-1]] = value


class SearchSpace:
    """A validated search space over a base method.

    Parameters
    ----------
    config : mapping
        ``{"params": tree, "branches": {name: {"controller", "method", "params"}}}`` (``tune.space``).
    base : Method
        The study's method (composed ``objective``, ``advantage``, ``control``, ``controller``).

    Raises
    ------
    SearchSpaceError
        An unknown knob, ``low > high``, a log scale with ``low <= 0``, or a bound the config
        dataclasses refuse.
    """

    def __init__(self, config: Mapping[str, Any] | DictConfig, base: Method) -> None:
        if isinstance(config, DictConfig):
            config = OmegaConf.to_container(config, resolve=True)
        config = dict(config or {})
        unknown = sorted(set(config) - {"params", "branches"})
        if unknown:
            raise SearchSpaceError(f"tune.space has unknown key(s) {unknown}; allowed: ['params', 'branches']")
        self.base = base
        branches = {name: branch for name, branch in (config.get("branches") or {}).items() if branch is not None}
        prefix = len(branches) > 1
        self.params = tuple(_parse_tree(config.get("params") or {}, "", None))
        self.branches: tuple[Branch, ...] = tuple(
            self._branch(name, dict(branch or {}), prefix) for name, branch in branches.items())
        for branch in self.branches or (Branch("", base, ()),):
            for param in self.params + branch.params:
                _check_param(param, branch.base, branch.name)

    def _branch(self, name: str, config: dict[str, Any], prefix: bool) -> Branch:
        unknown = sorted(set(config) - {"controller", "method", "fixed", "params"})
        if unknown:
            raise SearchSpaceError(f"tune.space.branches.{name} has unknown key(s) {unknown}; "
                                   f"allowed: ['controller', 'method', 'fixed', 'params']")
        base = method_from_presets(self.base, config.get("method"), config.get("controller"))
        for path, value in _flatten(config.get("fixed") or {}, "").items():
            if path.split(".")[0] not in ROOTS or (path.startswith("controller.") and base.controller is None) \
                    or (path.startswith("trainer.") and not path.startswith("trainer.curriculum.")):
                raise SearchSpaceError(f"unknown knob {path!r} in tune.space.branches.{name}.fixed")
            set_path(base, path, value)
        try:
            validate(base.run_config())
        except ValueError as error:
            raise SearchSpaceError(f"tune.space.branches.{name}: {error}") from None
        params = tuple(_parse_tree(config.get("params") or {}, "", name if prefix else None))
        if base.controller is None and any(p.path.startswith("controller.") for p in params):
            raise SearchSpaceError(f"tune.space.branches.{name} tunes controller params but has no controller: set "
                                   f"tune.space.branches.{name}.controller or the study's controller")
        return Branch(name, base, params)

    @property
    def all_params(self) -> tuple[Param, ...]:
        """Every param of the space (shared, then each branch's)."""
        return self.params + tuple(p for branch in self.branches for p in branch.params)

    def sample(self, trial: optuna.Trial) -> Method:
        """Sample a trial's method: the branch (when several), the shared params, then that branch's params."""
        branch = None
        if len(self.branches) > 1:
            chosen = trial.suggest_categorical(BRANCH_PARAM, [branch.name for branch in self.branches])
            branch = next(branch for branch in self.branches if branch.name == chosen)
        elif self.branches:
            branch = self.branches[0]
        method = copy.deepcopy(branch.base if branch is not None else self.base)
        for param in self.params + (branch.params if branch is not None else ()):
            set_path(method, param.path, param.suggest(trial))
        return method

    def method_of(self, params: Mapping[str, Any]) -> Method:
        """The method of a finished trial's ``params`` (the inverse of :meth:`sample`)."""
        branch = None
        if len(self.branches) > 1:
            branch = next(branch for branch in self.branches if branch.name == params[BRANCH_PARAM])
        elif self.branches:
            branch = self.branches[0]
        method = copy.deepcopy(branch.base if branch is not None else self.base)
        for param in self.params + (branch.params if branch is not None else ()):
            if param.name in params:
                set_path(method, param.path, params[param.name])
        return method


def _flatten(tree: Mapping[str, Any], path: str) -> dict[str, Any]:
    """``{"controller": {"law": {"setpoint": 1.0}}}`` -> ``{"controller.law.setpoint": 1.0}``."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        child = f"{path}.{key}" if path else str(key)
        flat.update(_flatten(value, child) if isinstance(value, Mapping) else {child: value})
    return flat


def _parse_tree(tree: Any, path: str, branch: str | None) -> list[Param]:
    """Flatten a params tree into :class:`Param` leaves."""
    if not isinstance(tree, Mapping):
        raise SearchSpaceError(f"tune.space param {path or '<root>'} must be a mapping of knobs or a range "
                               f"{{low, high[, log, step, int]}} / {{choices}}, got {tree!r}")
    params: list[Param] = []
    for key, value in tree.items():
        child = f"{path}.{key}" if path else str(key)
        if not path and key not in ROOTS:
            raise SearchSpaceError(f"unknown knob {child!r} in tune.space: a param path starts with one of "
                                   f"{list(ROOTS)} (e.g. control.clip_ratio_high, controller.law.kp, backend.lr, "
                                   "advantage.seed_alpha)")
        if isinstance(value, Mapping) and value and set(value) <= LEAF_KEYS:
            params.append(_leaf(child, dict(value), branch))
        else:
            params.extend(_parse_tree(value, child, branch))
    return params


def _leaf(path: str, spec: dict[str, Any], branch: str | None) -> Param:
    name = f"{branch}:{path}" if branch else path
    where = f"tune.space param {path!r}" + (f" (tune.space.branches.{branch})" if branch else "")
    if path.count(".") < 1 or path.startswith("controller.") and path.count(".") < 2:
        raise SearchSpaceError(f"unknown knob {path!r} in tune.space: name a field, e.g. control.clip_ratio_high, "
                               f"controller.law.kp")
    if "choices" in spec:
        if set(spec) != {"choices"}:
            raise SearchSpaceError(f"{where}: choices cannot be combined with {sorted(set(spec) - {'choices'})}")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise SearchSpaceError(f"{where}: choices must be a non-empty list, got {choices!r}")
        if not all(c is None or isinstance(c, (bool, int, float, str)) for c in choices):
            raise SearchSpaceError(f"{where}: choices must be numbers, strings, booleans or null, got {choices!r}")
        return Param(path, name, choices=tuple(choices))
    low, high = spec.get("low"), spec.get("high")
    for bound, value in (("low", low), ("high", high)):
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)):
            raise SearchSpaceError(f"{where}: {bound} must be a finite number, got {value!r}")
    if low > high:
        raise SearchSpaceError(f"{where}: low={low} > high={high}; swap them")
    log, step, integer = bool(spec.get("log", False)), spec.get("step"), bool(spec.get("int", False))
    if log and low <= 0:
        raise SearchSpaceError(f"{where}: a log scale needs low > 0, got low={low}; use log: false or a positive low")
    if step is not None and (log or not step > 0):
        raise SearchSpaceError(f"{where}: step must be > 0 and cannot be combined with log, got step={step!r}")
    if integer and (low != int(low) or high != int(high)):
        raise SearchSpaceError(f"{where}: an int param needs integer bounds, got [{low}, {high}]")
    return Param(path, name, float(low), float(high), log, None if step is None else float(step), integer)


def _check_param(param: Param, base: Method, branch: str) -> None:
    """Refuse an unknown knob or a bound the config dataclasses refuse (each corner alone, others at base)."""
    where = f"tune.space param {param.path!r}" + (f" (tune.space.branches.{branch})" if branch else "")
    root, *rest = param.path.split(".")
    if root == "control" and (len(rest) != 1 or rest[0] not in control_fields()):
        raise SearchSpaceError(f"unknown knob {param.path!r} in tune.space; Control fields: {control_fields()}")
    if root in CONFIGS and (len(rest) != 1 or rest[0] not in {f.name for f in dataclasses.fields(CONFIGS[root])}):
        raise SearchSpaceError(f"unknown knob {param.path!r} in tune.space; {root} fields: "
                               f"{[f.name for f in dataclasses.fields(CONFIGS[root])]}")
    if root == "trainer" and (len(rest) != 2 or rest[0] != "curriculum"
                              or rest[1] not in {f.name for f in dataclasses.fields(CurriculumConfig)}):
        raise SearchSpaceError(f"unknown knob {param.path!r} in tune.space: the only trainer knobs are the "
                               f"curriculum's, trainer.curriculum."
                               f"{{{','.join(f.name for f in dataclasses.fields(CurriculumConfig))}}}")
    if root == "backend" and rest != ["lr"] and (len(rest) != 1 or rest[0] not in SHARED_BACKEND_KNOBS):
        raise SearchSpaceError(f"unknown knob {param.path!r} in tune.space: the backend knobs a study searches are "
                               f"backend.lr (per run) and {[f'backend.{name}' for name in SHARED_BACKEND_KNOBS]} "
                               f"(one simulation each)")
    if root == "controller":
        if base.controller is None:
            raise SearchSpaceError(f"{where}: the study has no controller (set the controller group or a branch's "
                                   f"controller)")
        _check_controller_path(param, base.controller, where)
    for value in param.corners():
        method = copy.deepcopy(base)
        set_path(method, param.path, value)
        try:
            validate(method.run_config())
        except (ValueError, TypeError) as error:
            raise SearchSpaceError(f"{where}: value {value!r} is not allowed: {error}") from None


def _check_controller_path(param: Param, controller: dict[str, Any], where: str) -> None:
    section, *fields = param.path.split(".")[1:]
    laws = [controller.get("law", {}).get("name")]
    if param.path == "controller.law.name":
        laws = list(param.choices or [])
    classes = {"actuator": [ActuatorConfig], "sensor": [SensorConfig]}
    if section == "law":
        try:
            classes["law"] = [CONTROL_LAWS.get(name).config for name in laws]
        except ValueError as error:
            raise SearchSpaceError(f"{where}: {error}") from None
    if section not in classes:
        raise SearchSpaceError(f"unknown knob {param.path!r} in tune.space: controller params live under "
                               f"{[f.name for f in dataclasses.fields(ControllerConfig)]}")
    for cls in classes[section]:
        current: Any = cls
        for index, name in enumerate(fields):
            allowed = [f.name for f in dataclasses.fields(current)]
            if name not in allowed:
                raise SearchSpaceError(f"unknown knob {param.path!r} in tune.space: {cls.__name__} has no field "
                                       f"{name!r}; allowed: {allowed}")
            hint = typing.get_type_hints(current)[name]
            nested = [a for a in (typing.get_args(hint) or (hint,)) if dataclasses.is_dataclass(a)]
            if index < len(fields) - 1:
                if not nested:
                    raise SearchSpaceError(f"unknown knob {param.path!r} in tune.space: {name!r} is not a section")
                current = nested[0]
