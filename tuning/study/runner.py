"""The batched ask / simulate / tell loop of one worker.

``batch_size`` trials are asked at once and simulated as one vectorised run (:mod:`entropic.tuning.study.batch`);
intermediate values go to Optuna every ``report_every`` steps and the pruner is asked per trial.
Failures (invalid configs, divergence, NaN) are told as ``FAIL`` with ``fail_reason``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState

from entropic.tuning.study.batch import Method, Simulator, Trace
from entropic.tuning.study.config import TuneConfig
from entropic.tuning.study.recovery import counted_trials, fail_stale_trials, worker_id
from entropic.tuning.study.space import SearchSpace
from entropic.tuning.study.targets import Target

log = logging.getLogger(__name__)


@dataclass
class StudyRunner:
    """The ask / simulate / tell loop of one worker.

    Parameters
    ----------
    study : optuna.Study
    space : SearchSpace
    simulator : Simulator
    targets : list of Target
    tune : TuneConfig
    seeds : list[int]
        The S tuning seeds of every trial.
    worker : str
        This worker's id (:func:`worker_id`).
    """

    study: optuna.Study
    space: SearchSpace
    simulator: Simulator
    targets: list[Target]
    tune: TuneConfig
    seeds: list[int]
    worker: str = field(default_factory=worker_id)
    told: list[int] = field(default_factory=list)
    _last_beat: float = 0.0

    def run(self) -> list[int]:
        """Run batches until the study holds ``n_trials`` trials (or the timeout); returns the trials told."""
        started = time.perf_counter()
        while True:
            fail_stale_trials(self.study, self.tune.stale_after_s, self.worker)
            remaining = self.tune.n_trials - counted_trials(self.study)
            if remaining <= 0:
                break
            if self.tune.timeout_s is not None and time.perf_counter() - started > self.tune.timeout_s:
                log.info("tune.timeout_s=%s reached", self.tune.timeout_s)
                break
            self.run_batch(min(self.tune.batch_size, remaining))
        return self.told

    def heartbeat(self, force: bool = False) -> None:
        """Tell other workers this one is alive (at most every 10 s)."""
        now = time.time()
        if force or now - self._last_beat > 10.0:
            self.study.set_user_attr(f"heartbeat:{self.worker}", now)
            self._last_beat = now

    def run_batch(self, size: int) -> None:
        """Ask ``size`` trials, simulate them together, tell each."""
        self.heartbeat(force=True)
        trials, methods = [], []
        for _ in range(size):
            trial = self.study.ask()
            trial.set_user_attr("worker", self.worker)
            if "method" in trial.user_attrs:
                method = Method.from_dict(trial.user_attrs["method"])
            else:
                method = self.space.sample(trial)
                trial.set_user_attr("method", method.to_dict())
            trials.append(trial)
            methods.append(method)
        pruned: set[int] = set()
        single = len(self.targets) == 1

        def on_report(index: int, steps: int, trace: Trace) -> bool:
            self.heartbeat()
            value = self.targets[0].value(trace, self.tune.settings())
            trial = trials[index]
            if not math.isfinite(value):
                return False
            try:
                trial.report(value, steps)
            except optuna.exceptions.UpdateFinishedTrialError:  # another worker presumed this one dead: retried
                log.warning("trial %d was failed and re-enqueued by another worker; its report is dropped",
                            trial.number)
                return False
            if "baseline" in trial.user_attrs or not trial.should_prune():
                return False
            trial.set_user_attr("pruned_at_step", steps)
            self.study.tell(trial, state=TrialState.PRUNED)
            self.told.append(trial.number)
            pruned.add(index)
            log.info("trial %d pruned at step %d (%s = %.4g)", trial.number, steps, self.targets[0].name, value)
            return True

        started = time.perf_counter()
        runs = self.simulator.run(methods, self.seeds, self.tune.report_every if single else 0,
                                  on_report if single else None)
        elapsed = time.perf_counter() - started
        for index, (trial, run) in enumerate(zip(trials, runs, strict=True)):
            if index in pruned:
                continue
            if self.study._storage.get_trial(trial._trial_id).state.is_finished():
                log.warning("trial %d was failed and re-enqueued by another worker; its result is dropped",
                            trial.number)
                continue
            self._tell(trial, run.error, run.trace)
        log.info("batch of %d trials in %.1f s (%d pruned); study holds %d of %d trials", size, elapsed,
                 len(pruned), counted_trials(self.study), self.tune.n_trials)

    def _tell(self, trial: optuna.Trial, error: str | None, trace: Trace | None) -> None:
        if error is None:
            settings = self.tune.settings()
            values = [target.value(trace, settings) for target in self.targets]
            trial.set_user_attr("values_per_seed",
                                {target.name: target.per_seed(trace, settings) for target in self.targets})
            bad = [target.name for target, v in zip(self.targets, values, strict=True) if not math.isfinite(v)]
            if bad:
                error = f"target {bad} is not finite (NaN or inf in some seed's run)"
        if error is not None:
            fail(self.study, trial, error)
        else:
            self.study.tell(trial, values)
            label = trial.user_attrs.get("baseline") or "sampled"
            log.info("trial %d (%s): %s", trial.number, label,
                     ", ".join(f"{target.name}={v:.4g}" for target, v in zip(self.targets, values, strict=True)))
        self.told.append(trial.number)


def fail(study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
    """Record ``trial`` as failed with ``fail_reason`` (it stays in the study)."""
    trial.set_user_attr("fail_reason", reason)
    study.tell(trial, state=TrialState.FAIL)
    log.warning("trial %d failed: %s", trial.number, reason)
