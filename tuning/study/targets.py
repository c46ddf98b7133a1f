"""What a study optimises, its targets: a trial's value(s) from its runs' trajectories, averaged over seeds.

A target is what Optuna calls an objective; the name keeps it apart from the loss objectives of
:mod:`entropic.objectives`.

Registered targets (``tune.targets`` names them; several make a multi-objective study):

=====================  ==========  =====================================================================
name                   direction   per-run value
=====================  ==========  =====================================================================
``pass@1``, ``pass@k`` maximize    exact ``eval/pass@k`` after the last step (k must be in the
                                   backend's ``eval_k``); intermediate: at the latest evaluation
``reward_auc``         maximize    area under the reward curve: mean ``reward/mean`` over the steps
``final_reward``       maximize    mean ``reward/mean`` over the last ``tail`` share of the steps
``tracking_error``     minimize    mean ``|entropy/mean - target_entropy|`` over the last ``tail``
                                   share of the steps (nats)
=====================  ==========  =====================================================================

Each is computed over the steps done so far, so the same function gives the intermediate values
reported for pruning and the final value. A trial's value is the mean over its S seeds; a
non-finite value fails the trial with that reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from entropic.tuning.study.batch import Method, Simulator, Trace

DIRECTIONS = ("maximize", "minimize")


@dataclass(frozen=True)
class TargetSettings:
    """Constants the targets read.

    Attributes
    ----------
    target_entropy : float, optional
        Entropy the ``tracking_error`` target measures against (nats, >= 0); required by it.
    tail : float
        Share of the steps done, at the end, that ``tracking_error`` and ``final_reward`` average
        over. Range ``(0, 1]``, default 0.5.
    """

    target_entropy: float | None = None
    tail: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.tail <= 1.0:
            raise ValueError(f"tune.tail must lie in (0, 1], got {self.tail}")
        if self.target_entropy is not None and not (math.isfinite(self.target_entropy) and self.target_entropy >= 0):
            raise ValueError(f"tune.target_entropy must be a finite number >= 0 (nats), got {self.target_entropy}")


PerRun = Callable[[Trace, TargetSettings], torch.Tensor]
"""``(trace, settings) -> FloatTensor [S]``: one value per run."""


@dataclass(frozen=True)
class Target:
    """A registered target: its name, direction and per-run value."""

    name: str
    direction: str
    per_run: PerRun

    def value(self, trace: Trace, settings: TargetSettings) -> float:
        """The trial's value: the mean over its runs (NaN if any run's value is not finite)."""
        values = self.per_run(trace, settings).double()
        if values.numel() == 0 or not bool(torch.isfinite(values).all()):
            return math.nan
        return float(values.mean())

    def per_seed(self, trace: Trace, settings: TargetSettings) -> list[float]:
        """One value per run (seed), for the trial's attributes."""
        return [float(v) for v in self.per_run(trace, settings).double()]


TARGETS: dict[str, Target] = {}


def register_target(name: str, direction: str) -> Callable[[PerRun], PerRun]:
    """Register ``fn(trace, settings) -> [S]`` as target ``name``; a duplicate name raises ``ValueError``."""
    if direction not in DIRECTIONS:
        raise ValueError(f"target direction must be one of {DIRECTIONS}, got {direction!r}")

    def decorator(fn: PerRun) -> PerRun:
        if name in TARGETS:
            raise ValueError(f"target {name!r} has already been registered")
        TARGETS[name] = Target(name, direction, fn)
        return fn

    return decorator


def get_target(name: str) -> Target:
    """The target ``name``; ``pass@<k>`` for any k; unknown names raise ``ValueError`` listing the valid ones."""
    if name in TARGETS:
        return TARGETS[name]
    match = re.fullmatch(r"pass@(\d+)", name)
    if match and int(match.group(1)) >= 1:
        return Target(name, "maximize", _pass_at(name))
    raise ValueError(f"unknown tuning target {name!r}; allowed: {sorted(TARGETS)} or pass@<k>")


def get_targets(names: Sequence[str]) -> list[Target]:
    """The targets of a study; an empty or repeated list raises ``ValueError``."""
    if not names:
        raise ValueError("tune.targets must name at least one target")
    if len(set(names)) != len(names):
        raise ValueError(f"tune.targets lists a name twice: {list(names)}")
    try:
        return [get_target(name) for name in names]
    except ValueError as error:
        raise ValueError(f"tune.targets: {error}") from None


def _tail(series: torch.Tensor, share: float) -> torch.Tensor:
    """The last ``ceil(share * steps)`` rows of ``series`` [steps, S] (at least one)."""
    count = max(1, math.ceil(share * series.shape[0]))
    return series[-count:]


def _pass_at(name: str) -> PerRun:
    key = f"eval/{name}"

    def per_run(trace: Trace, settings: TargetSettings) -> torch.Tensor:
        if not trace.evals:
            return torch.full((trace.diverged_at.numel(),), math.nan)
        latest = trace.evals[max(trace.evals)]
        if key not in latest:
            raise ValueError(f"target {name!r} needs {key!r}, the backend evaluates {sorted(latest)}; "
                             f"add k to the backend's eval_k")
        return latest[key]

    return per_run


@register_target("reward_auc", "maximize")
def reward_auc(trace: Trace, settings: TargetSettings) -> torch.Tensor:
    """Mean ``reward/mean`` over every step done: the area under the reward curve per step."""
    return trace.reward.double().mean(0)


@register_target("final_reward", "maximize")
def final_reward(trace: Trace, settings: TargetSettings) -> torch.Tensor:
    """Mean ``reward/mean`` over the last ``tail`` share of the steps done."""
    return _tail(trace.reward.double(), settings.tail).mean(0)


@register_target("tracking_error", "minimize")
def tracking_error(trace: Trace, settings: TargetSettings) -> torch.Tensor:
    """Mean ``|entropy/mean - target_entropy|`` (nats) over the last ``tail`` share of the steps done."""
    if settings.target_entropy is None:
        raise ValueError("target 'tracking_error' needs tune.target_entropy (nats)")
    return (_tail(trace.entropy.double(), settings.tail) - settings.target_entropy).abs().mean(0)


def check_targets(targets: Sequence[Target], settings: TargetSettings,
                     eval_k: Sequence[int] | None) -> None:
    """Refuse, before any trial, a target whose inputs the study lacks (target, backend eval_k)."""
    for target in targets:
        if target.name == "tracking_error" and settings.target_entropy is None:
            raise ValueError("target 'tracking_error' needs tune.target_entropy (nats)")
        match = re.fullmatch(r"pass@(\d+)", target.name)
        if match and eval_k is not None and int(match.group(1)) not in eval_k:
            raise ValueError(f"target {target.name!r} needs eval/{target.name}; the backend's eval_k is "
                             f"{list(eval_k)}: add {match.group(1)} to backend.eval_k")


@dataclass
class MethodScore:
    """A method's values on a set of seeds, and its mean trajectories.

    Attributes
    ----------
    values : dict[str, list[float]]
        Target name -> one value per seed (empty when the method failed).
    error : str, optional
        Why the method failed (divergence, invalid config).
    reward, entropy : list[float]
        ``reward/mean`` and ``entropy/mean`` of every step, averaged over the seeds.
    """

    values: dict[str, list[float]]
    error: str | None
    reward: list[float]
    entropy: list[float]

    def mean(self, name: str) -> float:
        """Mean over seeds of target ``name`` (NaN when failed)."""
        values = self.values.get(name) or [math.nan]
        return float(torch.tensor(values, dtype=torch.float64).mean())

    def std(self, name: str) -> float:
        """Standard deviation over seeds of target ``name`` (0 for one seed)."""
        values = self.values.get(name) or [math.nan]
        return float(torch.tensor(values, dtype=torch.float64).std()) if len(values) > 1 else 0.0


def score_methods(simulator: Simulator, methods: dict[str, Method], seeds: Sequence[int],
                  targets: Sequence[Target], settings: TargetSettings) -> dict[str, MethodScore]:
    """Run every method on ``seeds`` (batched) and score it with every target (e.g. held-out seeds)."""
    runs = simulator.run(list(methods.values()), seeds)
    scores = {}
    for name, run in zip(methods, runs, strict=True):
        trace = run.trace
        reward = trace.reward.double().mean(1).tolist() if trace is not None else []
        entropy = trace.entropy.double().mean(1).tolist() if trace is not None else []
        values = {} if run.error else {target.name: target.per_seed(trace, settings) for target in targets}
        scores[name] = MethodScore(values, run.error, reward, entropy)
    return scores
