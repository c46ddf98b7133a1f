"""What every control law shares: the registry, the contract, per-run parameters and metrics.

A law turns a measurement ``y`` ``[R]`` (one entropy per run) into an output ``u`` ``[R]``.
Open-loop laws (constant, schedules) output the knob value itself; feedback laws (P/PI/PID,
Skywork's adaptive coefficient, EntroPIC) output an *effort*: ``u > 0`` asks for more
entropy, whatever the actuator (the actuator maps it to its knob with the right sign).

Parameters of a law are per run: a config's numbers become tensors ``[R]`` (one config for
every run, or one config per run, see :func:`stack_params`), so one law object simulates R
independent controllers at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Protocol

import torch

from entropic.registry import Registry

Metrics = dict[str, torch.Tensor]
"""Metric name -> per-run value ``[R]``."""

METRIC_KEYS = ("controller/error", "controller/p", "controller/i", "controller/d", "controller/raw",
               "controller/output", "controller/setpoint", "controller/measurement")
"""Keys every law logs each step (``error = setpoint - measurement``; P/I/D parts, raw and saturated
output in the law's output units). Laws may add their own (``controller/alpha``, ``controller/gate``)."""


class Law(Protocol):
    """The contract of a control law.

    ``step(step, measurement)`` is called once per optimizer step with the step index and the
    (filtered) sensor reading ``[R]`` (``None`` for an open-loop law whose sensor is not
    observed); it returns the saturated output ``[R]`` and the step's metrics (at least
    :data:`METRIC_KEYS`). The output already lies within ``[low, high]`` given at construction.
    """

    def step(self, step: int, measurement: torch.Tensor | None) -> tuple[torch.Tensor, Metrics]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


LawBuilder = Callable[[SimpleNamespace, torch.Tensor, torch.Tensor], Law]
"""``build(params, low, high) -> Law``: ``params`` from :func:`stack_params`, output limits ``[R]``."""


@dataclass(frozen=True)
class LawSpec:
    """A registered law: its config dataclass and how to build it.

    Attributes
    ----------
    config : type
        The config dataclass (``PIDConfig``, ...); its ``open_loop`` class attribute says whether
        the law outputs a knob value (``True``) or an entropy-raising effort (``False``).
    build : LawBuilder
        Constructor from stacked per-run parameters and output limits.
    """

    config: type
    build: LawBuilder


CONTROL_LAWS: Registry[LawSpec] = Registry("controller law", "controller.law.name")


def register_control_law(*names: str, config: type) -> Callable[[LawBuilder], LawBuilder]:
    """Register a law class (or builder) under ``names``, configured by ``config``."""

    def decorator(build: LawBuilder) -> LawBuilder:
        CONTROL_LAWS.register(*names)(LawSpec(config, build))
        return build

    return decorator


class StatefulLaw:
    """Base class: ``state_dict`` / ``load_state_dict`` over the tensor attributes named in ``_state``.

    Subclasses keep every piece of state that changes during a run (integrators, previous
    measurement, gains that :meth:`set_gains` may change) as a tensor ``[R]`` listed in
    ``_state``, plus the update counter ``updates``.
    """

    _state: tuple[str, ...] = ()
    updates: int = 0

    def state_dict(self) -> dict[str, Any]:
        """Copies of the state tensors and the number of updates made."""
        state: dict[str, Any] = {name: getattr(self, name).clone() for name in self._state}
        state["updates"] = self.updates
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; keys or shapes that differ raise ``ValueError``."""
        expected = set(self._state) | {"updates"}
        if set(state) != expected:
            raise ValueError(f"{type(self).__name__} state has keys {sorted(state)}, expected {sorted(expected)}")
        for name in self._state:
            current = getattr(self, name)
            value = torch.as_tensor(state[name])
            if value.shape != current.shape:
                raise ValueError(f"{type(self).__name__} state {name!r} has shape {list(value.shape)}, "
                                 f"expected {list(current.shape)}")
            setattr(self, name, value.to(dtype=current.dtype, device=current.device).clone())
        self.updates = int(state["updates"])


def law_metrics(*, error: torch.Tensor, p: torch.Tensor, i: torch.Tensor, d: torch.Tensor, raw: torch.Tensor,
                output: torch.Tensor, setpoint: torch.Tensor, measurement: torch.Tensor,
                **extra: torch.Tensor) -> Metrics:
    """The step's metrics under ``controller/`` keys (detached copies, each ``[R]``)."""
    values = dict(error=error, p=p, i=i, d=d, raw=raw, output=output, setpoint=setpoint,
                  measurement=measurement, **extra)
    return {f"controller/{name}": value.detach().clone() for name, value in values.items()}


def open_loop_metrics(raw: torch.Tensor, output: torch.Tensor, measurement: torch.Tensor | None) -> Metrics:
    """Metrics of a law without feedback: no setpoint or error (NaN), no P/I/D action (0)."""
    nan = torch.full_like(raw, float("nan"))
    zero = torch.zeros_like(raw)
    return law_metrics(error=nan, p=zero, i=zero, d=zero, raw=raw, output=output, setpoint=nan,
                       measurement=nan if measurement is None else measurement)


def stack_params(configs: Sequence[Any], num_runs: int, dtype: torch.dtype, device: torch.device | str,
                 where: str) -> SimpleNamespace:
    """Per-run parameters from one config (shared by all runs) or one config per run.

    Numbers become tensors ``[R]``, lists of numbers tensors ``[R, n]``, nested config
    dataclasses namespaces of their own; strings and booleans select code, so they must be the
    same in every config, and an optional field must be set in all configs or in none.

    Parameters
    ----------
    configs : sequence of dataclass instances
        Length 1 or ``num_runs``, all of the same type.
    num_runs : int
        R.
    dtype, device
        Of the tensors.
    where : str
        Config path for error messages (``"controller.law"``).

    Returns
    -------
    SimpleNamespace
        One attribute per dataclass field.
    """
    if len({type(c) for c in configs}) != 1:
        raise ValueError(f"{where}: every run's config must be of the same kind, got "
                         f"{sorted({type(c).__name__ for c in configs})}")
    fields = dataclasses.fields(configs[0])
    return SimpleNamespace(**{
        f.name: _stack([getattr(c, f.name) for c in configs], num_runs, dtype, device, f"{where}.{f.name}")
        for f in fields})


def _stack(values: list[Any], num_runs: int, dtype: torch.dtype, device: torch.device | str, where: str) -> Any:
    present = [v is not None for v in values]
    if not any(present):
        return None
    if not all(present):
        raise ValueError(f"{where} must be set in every run's config or in none, got {values}")
    first = values[0]
    if dataclasses.is_dataclass(first):
        return stack_params(values, num_runs, dtype, device, where)
    if isinstance(first, (str, bool)):
        if any(v != first for v in values):
            raise ValueError(f"{where} selects behaviour, so it must be the same in every run's config; got {values}")
        return first
    if len(values) == 1:
        values = values * num_runs
    if isinstance(first, (int, float)):
        return torch.tensor([float(v) for v in values], dtype=dtype, device=device)
    rows = [[float(x) for x in v] for v in values]
    if len({len(row) for row in rows}) != 1:
        raise ValueError(f"{where} must have the same length in every run's config, got {values}")
    return torch.tensor(rows, dtype=dtype, device=device).reshape(num_runs, len(rows[0]))
