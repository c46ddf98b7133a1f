"""Optuna studies of entropy methods: storage, warm start, the batched ask/tell loop and failures.

- Storage: a SQLite file in the output directory by default; a ``postgresql+psycopg://`` URL lets
  many workers on many machines share one study (each runs ``entropic-tune`` with the same study
  name). Every trial is told as soon as its batch ends, so a killed worker loses only its running
  batch; the next worker (or the re-run command) fails those trials with the reason, enqueues them
  again and carries on until the study holds ``n_trials`` trials.
- Warm start: the study's creator enqueues the published defaults (and analytic designs) as the
  first trials; they carry their whole method in the ``baseline`` and ``method`` attributes.
- Batches: ``batch_size`` trials are asked at once and simulated as one vectorised run
  (:mod:`tuning.batch`); intermediate values go to Optuna every ``report_every`` steps and the
  pruner is asked per trial.
- Failures (invalid configs, divergence, NaN) are told as ``FAIL`` with ``fail_reason``.
"""

from __future__ import annotations

import logging
import math
import os
import random
import socket
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy.exc
from optuna.exceptions import DuplicatedStudyError
from optuna.trial import FrozenTrial, TrialState

from tuning.batch import Method, Simulator, Trace
from tuning.objectives import ObjectiveSettings, TrialObjective
from tuning.space import SearchSpace

log = logging.getLogger(__name__)

PRUNERS = ("none", "median", "hyperband", "successive_halving")
SAMPLERS = ("tpe", "random", "nsga2", "qmc")


@dataclass
class BaselineConfig:
    """A published method enqueued as a first trial.

    Attributes
    ----------
    objective : str
        Preset of ``configs/objective/`` (objective, advantage and its knobs).
    controller : str, optional
        Preset of ``configs/controller/`` or a controller YAML path; ``None`` = no controller.
    control : dict[str, float]
        Knob values on top of the preset's.
    law : dict
        Controller law fields on top of the preset's (e.g. its ``target`` set to the study's
        target entropy, so that the published gains are compared on the same task).
    """

    objective: str = "grpo"
    controller: str | None = None
    control: dict[str, float] = field(default_factory=dict)
    law: dict[str, Any] = field(default_factory=dict)


@dataclass
class WarmStartConfig:
    """What the study's first trials are.

    Attributes
    ----------
    preset : bool
        Enqueue the search's starting point (the first law's controller as composed, e.g. the
        gains of ``configs/controller/pi_entropy_coeff.yaml``) as baseline ``preset``.
    baselines : dict[str, BaselineConfig]
        Published defaults, by name (DAPO, Skywork-OR1, EntroPIC in ``configs/tune/default.yaml``).
    design : list[str]
        Controller YAMLs with analytic (SIMC / IMC) gains, or directories holding them (a
        control-design output directory); each runs as baseline ``design:<file stem>`` with the
        study's objective.
    """

    preset: bool = True
    baselines: dict[str, BaselineConfig] = field(default_factory=dict)
    design: list[str] = field(default_factory=list)


@dataclass
class TuneConfig:
    """Schema of the ``tune`` section of ``configs/tune/*.yaml``.

    Attributes
    ----------
    study_name : str
        Name of the study in the storage; workers with the same name share it.
    storage : str, optional
        ``None``: ``sqlite:///<output dir>/study.db``; or any SQLAlchemy URL
        (``postgresql+psycopg://user@host:5432/db``).
    n_trials : int
        Trials the study should hold (finished, running or pruned; warm-start trials included);
        a re-run or another worker stops when the study has them.
    batch_size : int
        Trials simulated together (R = batch_size x seeds runs), >= 1.
    seeds : int
        S, seeds per trial: ``seed + s`` for s < S, the same for every trial. Range >= 1.
    heldout_seeds : int
        Seeds of the held-out comparison of the best trial with the defaults (0 = skip).
    heldout_offset : int
        Held-out seeds are ``seed + heldout_offset + s`` (never the tuning seeds).
    objectives : list[str]
        One name (single-objective) or several (multi-objective, Pareto front); see
        :mod:`tuning.objectives`.
    target_entropy : float, optional
        Entropy of the ``tracking_error`` objective (nats).
    tail : float
        Share of the run averaged by ``tracking_error`` and ``final_reward``, in ``(0, 1]``.
    report_every : int
        Steps between intermediate values (0 = none, no pruning).
    pruner : str
        ``none``, ``median``, ``hyperband`` or ``successive_halving`` (single objective only).
    sampler : str
        ``tpe`` (default), ``random``, ``nsga2``, ``qmc``.
    sampler_seed : int, optional
        Seed of the sampler (a worker joining a running study adds the trial count to it).
    timeout_s : float, optional
        Stop asking for new batches after this many seconds.
    stale_after_s : float
        A running trial whose worker (on another machine) sent no heartbeat for this long is failed
        and retried; a dead worker on this machine is detected at once.
    space : dict
        The search space (:class:`tuning.space.SearchSpace`).
    warm_start : WarmStartConfig
        First trials.
    report, export : bool
        Write the report (held-out comparison, plots) and the best config at the end.
    threads : int, optional
        Torch intra-op threads of this worker (``None`` = torch's default). One thread per worker
        and one worker per core is fastest on a small CPU, and immune to other load.
    """

    study_name: str = "entropic"
    storage: str | None = None
    n_trials: int = 200
    batch_size: int = 50
    seeds: int = 5
    heldout_seeds: int = 5
    heldout_offset: int = 10_000
    objectives: list[str] = field(default_factory=lambda: ["pass@1"])
    target_entropy: float | None = None
    tail: float = 0.5
    report_every: int = 200
    pruner: str = "median"
    sampler: str = "tpe"
    sampler_seed: int | None = 0
    timeout_s: float | None = None
    stale_after_s: float = 900.0
    space: Any = None
    warm_start: WarmStartConfig = field(default_factory=WarmStartConfig)
    report: bool = True
    export: bool = True
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("n_trials", "batch_size", "seeds"):
            if getattr(self, name) < 1:
                raise ValueError(f"tune.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("heldout_seeds", "report_every", "heldout_offset"):
            if getattr(self, name) < 0:
                raise ValueError(f"tune.{name} must be >= 0, got {getattr(self, name)}")
        if self.heldout_seeds and self.heldout_offset < self.seeds:
            raise ValueError(f"tune.heldout_offset must be >= tune.seeds={self.seeds} so that held-out seeds differ "
                             f"from the tuning seeds, got {self.heldout_offset}")
        if self.pruner not in PRUNERS:
            raise ValueError(f"tune.pruner={self.pruner!r} is not allowed; allowed values: {list(PRUNERS)}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"tune.sampler={self.sampler!r} is not allowed; allowed values: {list(SAMPLERS)}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"tune.threads must be >= 1 or null, got {self.threads}")
        if self.stale_after_s <= 0:
            raise ValueError(f"tune.stale_after_s must be > 0, got {self.stale_after_s}")

    def settings(self) -> ObjectiveSettings:
        """The objectives' constants."""
        return ObjectiveSettings(self.target_entropy, self.tail)


def worker_id() -> str:
    """``host:pid`` of this process, the owner recorded on every trial it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def storage_url(storage: str | None, output_dir: str | Path) -> str:
    """The storage URL: ``storage``, or a SQLite file ``study.db`` in ``output_dir``."""
    if storage:
        return storage
    return f"sqlite:///{(Path(output_dir) / 'study.db').resolve()}"


def make_storage(url: str, attempts: int = 8) -> optuna.storages.RDBStorage:
    """An RDB storage for ``url`` (SQLite waits up to a minute for a lock held by another worker).

    Workers that start together on an empty database race to create Optuna's tables; the losers
    see a unique-constraint error, wait a moment and connect to the tables the winner made.
    """
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": 60}}
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except sqlalchemy.exc.SQLAlchemyError as error:
            if attempt == attempts - 1:
                raise
            log.info("storage not ready (%s); retrying", type(error).__name__)
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.3)
    raise AssertionError("unreachable")


def make_sampler(name: str, seed: int | None, multi: bool) -> optuna.samplers.BaseSampler:
    """The named sampler; TPE lies about running trials (constant liar) so a batch spreads out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed)
        if name == "qmc":
            return optuna.samplers.QMCSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True, multivariate=True, group=True)


def make_pruner(name: str, report_every: int, steps: int) -> optuna.pruners.BasePruner:
    """The named pruner, with resources measured in training steps."""
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(report_every, 1), max_resource=steps,
                                              reduction_factor=3)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(report_every, 1), reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_study(tune: TuneConfig, storage: optuna.storages.BaseStorage, objectives: Sequence[TrialObjective],
               steps: int) -> tuple[optuna.Study, bool]:
    """Create the study, or load it when another worker (or an earlier run) created it.

    Returns
    -------
    study : optuna.Study
    created : bool
        Whether this call created it (only the creator enqueues the warm start).
    """
    directions = [o.direction for o in objectives]
    multi = len(objectives) > 1
    pruner = make_pruner("none" if multi else tune.pruner, tune.report_every, steps)
    if multi and tune.pruner != "none":
        log.warning("tune.pruner=%s ignored: Optuna prunes single-objective studies only", tune.pruner)
    try:
        study = optuna.create_study(storage=storage, study_name=tune.study_name, directions=directions,
                                    sampler=make_sampler(tune.sampler, tune.sampler_seed, multi), pruner=pruner)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([o.name for o in objectives])
        return study, True
    except DuplicatedStudyError:
        pass
    study = optuna.load_study(study_name=tune.study_name, storage=storage, pruner=pruner,
                              sampler=make_sampler(tune.sampler, tune.sampler_seed, multi))
    existing = [d.name.lower() for d in study.directions]
    names = study.metric_names or []
    if existing != directions or (names and names != [o.name for o in objectives]):
        raise ValueError(f"study {tune.study_name!r} already exists with objectives {names} ({existing}); this run "
                         f"asks for {[o.name for o in objectives]} ({directions}): pick another tune.study_name")
    seed = None if tune.sampler_seed is None else tune.sampler_seed + len(study.get_trials(deepcopy=False))
    study.sampler = make_sampler(tune.sampler, seed, multi)
    return study, False


def enqueue_warm_start(study: optuna.Study, methods: dict[str, Method]) -> list[str]:
    """Enqueue each warm-start method not yet in the study; returns the names enqueued."""
    present = {t.user_attrs.get("baseline") for t in study.get_trials(deepcopy=False)}
    enqueued = []
    for name, method in methods.items():
        if name not in present:
            study.enqueue_trial({}, user_attrs={"baseline": name, "method": method.to_dict()})
            enqueued.append(name)
    return enqueued


def counted_trials(study: optuna.Study) -> int:
    """Trials that count towards ``n_trials``: finished or running, not those retried after a worker died."""
    count = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
            count += 1
        elif trial.state == TrialState.FAIL and not trial.user_attrs.get("retried"):
            count += 1
    return count


OWNERLESS_GRACE_S = 2.0
"""A running trial with no worker attribute this long after its start was asked by a worker that died."""


def fail_stale_trials(study: optuna.Study, stale_after_s: float, worker: str) -> list[int]:
    """Fail (with the reason) and re-enqueue running trials whose worker died; returns their numbers.

    A worker on this machine is dead when its process is gone; a worker elsewhere when its
    heartbeat (a study attribute refreshed during every batch) is older than ``stale_after_s``; a
    trial that never got its worker's name (killed between ask and naming) after
    :data:`OWNERLESS_GRACE_S`.
    """
    now, host = time.time(), socket.gethostname()
    heartbeats = {k[len("heartbeat:"):]: v for k, v in study.user_attrs.items() if k.startswith("heartbeat:")}
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get("worker")
        if owner == worker:
            continue
        started = trial.datetime_start.timestamp() if trial.datetime_start else now
        last_seen = heartbeats.get(owner, started) if owner else started
        owner_host, _, pid = (owner or "").rpartition(":")
        dead = now - last_seen > stale_after_s
        if owner is None:  # a live worker names itself right after asking; none means it died in between
            dead = now - started > OWNERLESS_GRACE_S
        elif owner_host == host and pid.isdigit():
            dead = not _process_alive(int(pid))
        if not dead:
            continue
        storage = study._storage
        storage.set_trial_user_attr(trial._trial_id, "fail_reason",
                                    f"worker {owner or '?'} stopped before finishing the trial (killed?); retried")
        storage.set_trial_user_attr(trial._trial_id, "retried", True)
        try:
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        except (ValueError, RuntimeError):
            continue
        attrs = {}  # a sampled trial is sampled again from its params; a baseline carries its method
        if "baseline" in trial.user_attrs:
            attrs = {k: trial.user_attrs[k] for k in ("baseline", "method") if k in trial.user_attrs}
        study.enqueue_trial(dict(trial.params), user_attrs={**attrs, "retry_of": trial.number})
        failed.append(trial.number)
    if failed:
        log.warning("trials %s were left running by a dead worker: failed and enqueued again", failed)
    return failed


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" not in status


@dataclass
class StudyRunner:
    """The ask / simulate / tell loop of one worker.

    Parameters
    ----------
    study : optuna.Study
    space : SearchSpace
    simulator : Simulator
    objectives : list of TrialObjective
    tune : TuneConfig
    seeds : list[int]
        The S tuning seeds of every trial.
    worker : str
        This worker's id (:func:`worker_id`).
    """

    study: optuna.Study
    space: SearchSpace
    simulator: Simulator
    objectives: list[TrialObjective]
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
        single = len(self.objectives) == 1

        def on_report(index: int, steps: int, trace: Trace) -> bool:
            self.heartbeat()
            value = self.objectives[0].value(trace, self.tune.settings())
            trial = trials[index]
            if not math.isfinite(value):
                return False
            trial.report(value, steps)
            if "baseline" in trial.user_attrs or not trial.should_prune():
                return False
            trial.set_user_attr("pruned_at_step", steps)
            self.study.tell(trial, state=TrialState.PRUNED)
            self.told.append(trial.number)
            pruned.add(index)
            log.info("trial %d pruned at step %d (%s = %.4g)", trial.number, steps, self.objectives[0].name, value)
            return True

        started = time.perf_counter()
        runs = self.simulator.run(methods, self.seeds, self.tune.report_every if single else 0,
                                  on_report if single else None)
        elapsed = time.perf_counter() - started
        for index, (trial, run) in enumerate(zip(trials, runs, strict=True)):
            if index in pruned:
                continue
            self._tell(trial, run.error, run.trace)
        log.info("batch of %d trials in %.1f s (%d pruned); study holds %d of %d trials", size, elapsed,
                 len(pruned), counted_trials(self.study), self.tune.n_trials)

    def _tell(self, trial: optuna.Trial, error: str | None, trace: Trace | None) -> None:
        if error is None:
            settings = self.tune.settings()
            values = [o.value(trace, settings) for o in self.objectives]
            trial.set_user_attr("values_per_seed", {o.name: o.per_seed(trace, settings) for o in self.objectives})
            bad = [o.name for o, v in zip(self.objectives, values, strict=True) if not math.isfinite(v)]
            if bad:
                error = f"objective {bad} is not finite (NaN or inf in some seed's run)"
        if error is not None:
            fail(self.study, trial, error)
        else:
            self.study.tell(trial, values)
            label = trial.user_attrs.get("baseline") or "sampled"
            log.info("trial %d (%s): %s", trial.number, label,
                     ", ".join(f"{o.name}={v:.4g}" for o, v in zip(self.objectives, values, strict=True)))
        self.told.append(trial.number)


def fail(study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
    """Record ``trial`` as failed with ``fail_reason`` (it stays in the study)."""
    trial.set_user_attr("fail_reason", reason)
    study.tell(trial, state=TrialState.FAIL)
    log.warning("trial %d failed: %s", trial.number, reason)


def best_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The best trial (single objective) or the Pareto front (several), from completed trials."""
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return []
    return study.best_trials if len(study.directions) > 1 else [study.best_trial]
