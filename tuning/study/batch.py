"""Run a batch of trials x seeds as one vectorised simulation of R = trials x seeds runs.

A study's trials differ only in their :class:`Method` (objective, advantage, base knobs,
controller, learning rate); the backend, the loop lengths and the seeds are the study's. A trial
is built only from its method's run config (:meth:`Method.run_config`) once
:func:`~entropic.experiment.validate` has checked it, as ``entropic-train`` checks one. Run
``r = i * S + s`` of a simulation is seed ``seeds[s]`` of trial ``i``: every trial gets the
same S seeds (common random numbers), whatever its position in the batch, and the backend
keeps runs independent, so a trial's values are the same to the bit alone or batched.

Trials whose configs select different code (objective terms, advantage estimator, controller
law / actuator / sensor, which optional controller fields are set) cannot share one controller
or objective; :meth:`Simulator.run` splits a batch into such groups and simulates them one after
another. A trial stopped early (pruned, or one of its runs diverged) keeps simulating with its
group, since a backend cannot drop runs, but is no longer reported; a group ends as soon as all
its trials have stopped.

A backend that trains one run per process (its factory's ``max_runs``, the LLM backend) gets each
(trial, seed) run in a process of its own (:mod:`entropic.tuning.processes`), with the same seed it
would have in a batch; its trials are reported once their runs are done.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate

from entropic.advantages import AdvantageConfig
from entropic.control import Control, control_fields
from entropic.controllers import build_controller
from entropic.experiment import RunConfig, validate
from entropic.loop import Diverged, Trainer, TrainerConfig
from entropic.objectives import Objective, ObjectiveConfig
from entropic.observe import observe
from entropic.tuning.processes import max_runs, run_apart

log = logging.getLogger(__name__)

LEAN_SENSORS = ("entropy/mean", "entropy/sampled_nll", "reward/mean", "entropy/pos_adv", "entropy/neg_adv")
"""The readings a lean study observes besides its controller's (the others need per-run sorts, the costly part)."""


SHARED_BACKEND_KNOBS = ("off_policy_share",)
"""Backend fields a study may search besides ``lr``: one value for all runs of a simulation, so trials that
differ in them run apart (:meth:`Method.structure`)."""


@dataclass
class Method:
    """One trial's complete method: everything that may differ between the trials of a study.

    It is checked, and its trial built, only as a run config: ``validate(method.run_config())``.

    Attributes
    ----------
    objective : dict
        :class:`~entropic.objectives.ObjectiveConfig` fields.
    advantage : dict
        :class:`~entropic.advantages.AdvantageConfig` fields.
    control : dict[str, float]
        Base :class:`~entropic.control.Control` values; unset fields keep Control's defaults.
    controller : dict, optional
        Controller config (``law``, ``actuator``, ``sensor``), as in ``configs/controller/``;
        ``None`` keeps the knobs fixed.
    lr : float, optional
        Backend learning rate; ``None`` keeps the backend config's.
    curriculum : dict
        :class:`~entropic.curriculum.CurriculumConfig` fields over the study's ``trainer.curriculum`` (SENT's
        schedule); trials that differ in them run as separate simulations.
    backend : dict
        Backend fields one simulation's runs share (:data:`SHARED_BACKEND_KNOBS`: LUFFY's
        ``off_policy_share``) over the study's; trials that differ in them run as separate simulations.
    """

    objective: dict[str, Any] = field(default_factory=dict)
    advantage: dict[str, Any] = field(default_factory=dict)
    control: dict[str, float] = field(default_factory=dict)
    controller: dict[str, Any] | None = None
    lr: float | None = None
    curriculum: dict[str, Any] = field(default_factory=dict)
    backend: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (for trial attributes and exports)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Method:
        """Inverse of :meth:`to_dict`."""
        return cls(**json.loads(json.dumps(dict(data))))

    def run_config(self, study: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """This method as the config of one run, in the :class:`~entropic.experiment.RunConfig` shape.

        ``study`` is the study's run config: its ``seed``, ``backend`` and ``trainer`` are kept (``backend.lr``
        replaced when this method sets one); ``None``: the schema's defaults and an empty ``backend``, which is
        what :func:`~entropic.experiment.validate` needs to check the method.
        """
        study = study or {}
        backend = {**(study.get("backend") or {}), **self.backend}
        if self.lr is not None:
            backend["lr"] = self.lr
        trainer = dict(study.get("trainer") or {})
        if self.curriculum:
            trainer["curriculum"] = {**(trainer.get("curriculum") or {}), **self.curriculum}
        return {"seed": study.get("seed", 0), "num_runs": 1, "backend": backend, "objective": self.objective,
                "advantage": self.advantage, "control": dict(self.control), "controller": self.controller,
                "trainer": trainer}

    def structure(self) -> str:
        """What selects code: methods with equal structure can share one simulation."""
        objective = dataclasses.asdict(ObjectiveConfig(**self.objective))
        advantage = dataclasses.asdict(AdvantageConfig(**self.advantage))
        controller = None if self.controller is None else _signature(self.controller)
        return json.dumps([objective, advantage, controller, self.lr is None, self.curriculum, self.backend],
                          sort_keys=True)


def _signature(value: Any) -> Any:
    """Numbers become ``"#"`` (they may differ per run); strings, booleans and ``None`` are kept."""
    if isinstance(value, dict):
        return {key: _signature(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_signature(item) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "#"
    return value


@dataclass
class Trace:
    """Per-run trajectories of a simulation (or of one trial's runs).

    Attributes
    ----------
    reward : FloatTensor [steps, R]
        ``reward/mean`` of every step done.
    entropy : FloatTensor [steps, R]
        ``entropy/mean`` of every step done.
    evals : dict[int, dict[str, FloatTensor [R]]]
        Backend evaluations after ``k`` steps (``eval/pass@1``, ...), keyed by ``k``.
    diverged_at : LongTensor [R]
        Step at which each run went non-finite, -1 if never.
    """

    reward: torch.Tensor
    entropy: torch.Tensor
    evals: dict[int, dict[str, torch.Tensor]]
    diverged_at: torch.Tensor

    @property
    def steps(self) -> int:
        """Steps done."""
        return self.reward.shape[0]

    @staticmethod
    def cat(traces: Sequence[Trace]) -> Trace:
        """The runs of ``traces`` (equal steps and evaluations) side by side, in order."""
        first = traces[0]
        return Trace(torch.cat([t.reward for t in traces], 1), torch.cat([t.entropy for t in traces], 1),
                     {k: {name: torch.cat([t.evals[k][name] for t in traces]) for name in e} for k, e in
                      first.evals.items()}, torch.cat([t.diverged_at for t in traces]))

    def until(self, steps: int) -> Trace:
        """The trace of the first ``steps`` steps (evaluations after them dropped)."""
        return Trace(self.reward[:steps], self.entropy[:steps], {k: e for k, e in self.evals.items() if k <= steps},
                     self.diverged_at)

    def runs(self, index: slice) -> Trace:
        """The trace of the runs ``index`` (one trial's seeds)."""
        return Trace(self.reward[:, index], self.entropy[:, index],
                     {k: {name: v[index] for name, v in e.items()} for k, e in self.evals.items()},
                     self.diverged_at[index])


@dataclass
class TrialRun:
    """What one trial's S runs produced.

    Attributes
    ----------
    trace : Trace, optional
        Its runs' trajectories (``None`` when the trial could not be built).
    stopped_at : int, optional
        Steps done when ``on_report`` stopped it; ``None`` if it ran to the end.
    error : str, optional
        Why the trial failed (invalid config, divergence); ``None`` if it did not.
    """

    trace: Trace | None = None
    stopped_at: int | None = None
    error: str | None = None


OnReport = Callable[[int, int, Trace], bool]
"""``on_report(trial_index, steps_done, trace_of_its_runs) -> stop``: called every ``report_every`` steps."""


@dataclass
class Simulator:
    """The study-level half of a simulation: backend, loop lengths and a scratch directory.

    Parameters
    ----------
    backend : dict
        Backend factory config with ``_target_`` (``configs/backend/*.yaml``); it must accept
        ``num_runs``, ``seeds`` and, when a method sets one, a per-run ``lr`` list.
    trainer : TrainerConfig
        ``steps``, ``ppo_epochs``, ``ppo_mini_batch_size``; evaluation, checkpoints and
        TensorBoard are handled here, not by the trainer.
    workdir : str or Path
        Scratch directory of the trainers (nothing large is written).
    lean : bool
        Observe only :data:`LEAN_SENSORS` and the controller's sensors (default True); False: every sensor.
    """

    backend: dict[str, Any]
    trainer: TrainerConfig
    workdir: str | Path
    lean: bool = True

    def run(self, methods: Sequence[Method], seeds: Sequence[int], report_every: int = 0,
            on_report: OnReport | None = None) -> list[TrialRun]:
        """Simulate every method on every seed; returns one :class:`TrialRun` per method, in order.

        Parameters
        ----------
        methods : sequence of Method
            The trials of the batch.
        seeds : sequence of int
            The S seeds every trial runs on.
        report_every : int
            Evaluate and call ``on_report`` every this many steps (0 = never); the last step is
            always evaluated.
        on_report : callable, optional
            See :data:`OnReport`; returning True stops reporting that trial.
        """
        results = [TrialRun() for _ in methods]
        configs: dict[int, RunConfig] = {}
        groups: dict[str, list[int]] = {}
        for index, method in enumerate(methods):
            try:
                configs[index] = validate(method.run_config())
            except ValueError as error:
                results[index].error = _invalid(error)
                continue
            groups.setdefault(method.structure(), []).append(index)
        limit = max_runs(self.backend)
        for indices in groups.values():
            report = None if on_report is None else _shifted(on_report, indices)
            if limit is not None and len(indices) * len(seeds) > limit:
                runs = self._run_apart([methods[i] for i in indices], list(seeds), report_every, report)
            else:
                runs = self._run_group([configs[i] for i in indices], list(seeds), report_every, report)
            for index, run in zip(indices, runs, strict=True):
                results[index] = run
        return results

    def _run_apart(self, methods: list[Method], seeds: list[int], report_every: int,
                   on_report: OnReport | None) -> list[TrialRun]:
        """Every (method, seed) run in a process of its own, for a backend whose factory sets ``max_runs``.

        Pruning cannot stop a run in another process: ``on_report`` sees each report point once the
        runs are done, and a trial it stops keeps its values up to that point (no time is saved).
        """
        def workdir(method: Method, seed: int) -> Path:
            digest = hashlib.sha256(json.dumps(method.to_dict(), sort_keys=True).encode()).hexdigest()[:12]
            return Path(self.workdir) / f"run_{digest}_{seed}"

        jobs = [(dataclasses.replace(self, workdir=workdir(method, seed)), [method], [seed], report_every)
                for method in methods for seed in seeds]
        runs = run_apart(_run_alone, jobs)
        results = []
        for i in range(len(methods)):
            parts = runs[i * len(seeds):(i + 1) * len(seeds)]
            error = next((run.error for run in parts if run.error), None)
            trace = None if error else Trace.cat([run.trace for run in parts])
            result = TrialRun(trace=trace, error=error)
            if trace is not None and on_report is not None:
                for done in sorted(k for k in trace.evals if k < trace.steps):
                    if on_report(i, done, trace.until(done)):
                        result.stopped_at = done
                        break
            results.append(result)
        return results

    def _run_group(self, configs: list[RunConfig], seeds: list[int], report_every: int,
                   on_report: OnReport | None) -> list[TrialRun]:
        S, n = len(seeds), len(configs)
        try:
            trainer = self._build(configs, seeds)
        except ValueError as error:
            return [TrialRun(error=_invalid(error)) for _ in configs]
        recorder = _Recorder(trainer, seeds, n, report_every, on_report)
        error = None
        try:
            trainer.run([recorder])
        except Diverged as exception:
            error = f"diverged: {exception}"
        trace = recorder.trace()
        for i, result in enumerate(recorder.results):
            runs = slice(i * S, (i + 1) * S)
            result.trace = trace.runs(runs)
            if result.error is None and result.stopped_at is None:
                result.error = error or _divergence(trace.diverged_at[runs], seeds)
        return recorder.results

    def _build(self, configs: list[RunConfig], seeds: list[int]) -> Trainer:
        """One trainer for ``len(configs) x len(seeds)`` runs (run ``i * S + s``), from the trials' validated
        one-run configs (of equal :meth:`Method.structure`)."""
        S = len(seeds)
        R = len(configs) * S
        control = _per_run_control([config.base_control for config in configs], S)
        controllers = [c[0] if isinstance(c, list) else c for c in (config.controller_config for config in configs)]
        controller = None
        if controllers[0] is not None:
            controller = build_controller([c for c in controllers for _ in range(S)], R, control)
        run_seeds = [seed for _ in configs for seed in seeds]
        overrides: dict[str, Any] = {"num_runs": R, "seeds": run_seeds}
        if "lr" in configs[0].backend:
            overrides["lr"] = [float(config.backend["lr"]) for config in configs for _ in range(S)]
        shared = configs[0].backend  # the same in every config of the group (Method.structure)
        overrides.update({name: shared[name] for name in SHARED_BACKEND_KNOBS if name in shared})
        backend = instantiate(self.backend, **overrides)
        config = dataclasses.replace(self.trainer, curriculum=configs[0].trainer.curriculum, eval_every=0,
                                     checkpoint_every=0, histogram_every=0, tensorboard=False)
        required = () if controller is None else tuple(controller.required_observations)
        Path(self.workdir).mkdir(parents=True, exist_ok=True)
        return Trainer(backend, Objective(configs[0].objective), configs[0].advantage, control, controller, config,
                       self.workdir, run_seeds,
                       observe=partial(observe, names=(*LEAN_SENSORS, *required)) if self.lean else observe)


class _Recorder:
    """The trainer callback of one group: records every step, evaluates and reports every ``report_every`` steps.

    A trial stops being reported when one of its runs diverges or ``on_report`` says so; the
    group's run stops when none is left.
    """

    def __init__(self, trainer: Trainer, seeds: list[int], trials: int, report_every: int,
                 on_report: OnReport | None) -> None:
        self.trainer, self.seeds, self.report_every, self.on_report = trainer, seeds, report_every, on_report
        self.results = [TrialRun() for _ in range(trials)]
        self.active = [True] * trials
        self.rewards: list[torch.Tensor] = []
        self.entropies: list[torch.Tensor] = []
        self.evals: dict[int, dict[str, torch.Tensor]] = {}

    def trace(self) -> Trace:
        """What was recorded so far, for every run of the group."""
        R = self.trainer.num_runs
        return Trace(torch.stack(self.rewards) if self.rewards else torch.zeros(0, R),
                     torch.stack(self.entropies) if self.entropies else torch.zeros(0, R), self.evals,
                     self.trainer.diverged_at.clone())

    def on_step(self, step: int, metrics: dict[str, torch.Tensor]) -> bool:
        done, last = step + 1, step + 1 == self.trainer.config.steps
        self.rewards.append(metrics["reward/mean"].detach().float())
        self.entropies.append(metrics.get("entropy/mean", torch.full((self.trainer.num_runs,), float("nan")))
                              .detach().float())
        if last:  # the trainer evaluates its last step
            self.evals[done] = {name: value.detach().float() for name, value in metrics.items()
                                if name.startswith("eval/")}
        if last or not (self.report_every and done % self.report_every == 0):
            return False
        self.evals[done] = {name: value.detach().float() for name, value in self.trainer.backend.evaluate().items()}
        trace, S = self.trace(), len(self.seeds)
        for i, result in enumerate(self.results):
            if not self.active[i]:
                continue
            runs = slice(i * S, (i + 1) * S)
            reason = _divergence(trace.diverged_at[runs], self.seeds)
            if reason is not None:
                self.active[i], result.error, result.stopped_at = False, reason, done
            elif self.on_report is not None and self.on_report(i, done, trace.runs(runs)):
                self.active[i], result.stopped_at = False, done
        return not any(self.active)


def _per_run_control(controls: list[Control], seeds: int) -> Control:
    """Every Control field as a tensor ``[trials * seeds]``: the same code path alone or batched."""
    values = {}
    for name in control_fields():
        values[name] = torch.tensor([float(getattr(c, name)) for c in controls for _ in range(seeds)])
    return Control(**values)


def _invalid(error: ValueError) -> str:
    """The failure reason of a trial whose config cannot be built."""
    reason = str(error)
    return reason if reason.startswith("invalid config") else f"invalid config: {reason}"


def _divergence(diverged_at: torch.Tensor, seeds: Sequence[int]) -> str | None:
    """A failure reason naming the first diverged seed, or ``None``."""
    bad = (diverged_at >= 0).nonzero().flatten().tolist()
    if not bad:
        return None
    first = bad[0]
    return (f"diverged: seed {seeds[first]} went non-finite (loss or entropy) at step {int(diverged_at[first])}"
            + (f" ({len(bad)} of {len(seeds)} seeds)" if len(bad) > 1 else ""))


def _run_alone(simulator: Simulator, methods: list[Method], seeds: list[int], report_every: int) -> TrialRun:
    """One run of :meth:`Simulator._run_apart`, in its own process."""
    return simulator.run(methods, seeds, report_every)[0]


def _shifted(on_report: OnReport, indices: list[int]) -> OnReport:
    """``on_report`` with group-local trial indices mapped back to batch indices."""
    return lambda i, done, trace: on_report(indices[i], done, trace)
