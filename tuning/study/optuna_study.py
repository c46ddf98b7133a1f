"""Opening an Optuna study of entropy methods: sampler, pruner, warm start and its best trials.

The study's creator enqueues the published defaults (and analytic designs) as the first trials;
they carry their whole method in the ``baseline`` and ``method`` attributes. Its storage is
:mod:`entropic.tuning.study.storage`, its configuration :mod:`entropic.tuning.study.config`, a worker's loop
:mod:`entropic.tuning.study.runner` and the retry of trials left by dead workers :mod:`entropic.tuning.study.recovery`.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.exceptions import DuplicatedStudyError
from optuna.trial import FrozenTrial, TrialState

from entropic.tuning.study.batch import Method
from entropic.tuning.study.config import TuneConfig
from entropic.tuning.study.targets import Target

log = logging.getLogger(__name__)


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


SETUP_FREE = ("study_name", "storage", "n_trials", "batch_size", "heldout_seeds", "heldout_offset", "timeout_s",
              "stale_after_s", "report", "export", "threads")
"""``tune`` fields a worker may set its own way: they decide how much it runs, where and what it reports, not
what a trial's value is (a trial's value is the same alone or batched)."""


def study_setup(run: dict[str, Any], tune: TuneConfig) -> dict[str, Any]:
    """Everything that decides a trial's value, flattened to ``{"dotted.key": value}``.

    The run config a trial uses (backend, objective, advantage, controller, control, seed and the
    trainer's steps, epochs and mini-batch size) and the ``tune`` settings but :data:`SETUP_FREE`:
    two workers of one study must agree on all of it.
    """
    settings = {k: v for k, v in dataclasses.asdict(tune).items() if k not in SETUP_FREE}
    trial_run = {k: run.get(k) for k in ("backend", "objective", "advantage", "controller", "control", "seed")}
    trainer = run.get("trainer") or {}
    trial_run["trainer"] = {k: trainer.get(k) for k in ("steps", "ppo_epochs", "ppo_mini_batch_size")}
    return _flatten({**trial_run, "tune": settings})


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix[:-1]: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(_flatten(value, f"{prefix}{key}."))
    return flat


def check_same_setup(study: optuna.Study, setup: dict[str, Any]) -> None:
    """Record ``setup`` on a new study; refuse a worker whose setup differs, naming the keys."""
    recorded = study.user_attrs.get("setup")
    if recorded is None:
        study.set_user_attr("setup", setup)
        return
    differ = sorted(set(recorded) | set(setup))
    differ = [key for key in differ if recorded.get(key) != setup.get(key)]
    if differ:
        shown = ", ".join(f"{key}={setup.get(key)!r} (study: {recorded.get(key)!r})" for key in differ[:8])
        more = f" and {len(differ) - 8} more" if len(differ) > 8 else ""
        raise ValueError(f"study {study.study_name!r} was run with another setup: {shown}{more}; its trials would "
                         f"not be comparable: run with the study's settings or pick another tune.study_name")


def open_study(tune: TuneConfig, storage: optuna.storages.BaseStorage, targets: Sequence[Target],
               steps: int) -> tuple[optuna.Study, bool]:
    """Create the study, or load it when another worker (or an earlier run) created it.

    Returns
    -------
    study : optuna.Study
    created : bool
        Whether this call created it (only the creator enqueues the warm start).
    """
    directions = [target.direction for target in targets]
    multi = len(targets) > 1
    pruner = make_pruner("none" if multi else tune.pruner, tune.report_every, steps)
    if multi and tune.pruner != "none":
        log.warning("tune.pruner=%s ignored: Optuna prunes single-objective studies only", tune.pruner)
    try:
        study = optuna.create_study(storage=storage, study_name=tune.study_name, directions=directions,
                                    sampler=make_sampler(tune.sampler, tune.sampler_seed, multi), pruner=pruner)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([target.name for target in targets])
        return study, True
    except DuplicatedStudyError:
        pass
    study = optuna.load_study(study_name=tune.study_name, storage=storage, pruner=pruner,
                              sampler=make_sampler(tune.sampler, tune.sampler_seed, multi))
    existing = [d.name.lower() for d in study.directions]
    names = study.metric_names or []
    if existing != directions or (names and names != [target.name for target in targets]):
        raise ValueError(f"study {tune.study_name!r} already exists with targets {names} ({existing}); this run "
                         f"asks for {[target.name for target in targets]} ({directions}): pick another tune.study_name")
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


def best_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The best trial (single objective) or the Pareto front (several), from completed trials."""
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return []
    return study.best_trials if len(study.directions) > 1 else [study.best_trial]
