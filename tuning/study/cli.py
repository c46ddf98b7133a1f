"""``entropic-tune``: an Optuna study of an entropy method on a simulator, from ``configs/tune/``.

Examples::

    entropic-tune                                       # PI gains of the entropy bonus, 200 trials
    entropic-tune --config-name tune/skywork tune.n_trials=100
    entropic-tune tune.storage=postgresql+psycopg://tuner@db-host:5432/optuna   # one of many workers
    entropic-tune tune.warm_start.design=[outputs/design/pi_simc.yaml]          # enqueue analytic gains

Re-running a command resumes its study (the SQLite file lives in the output directory,
``outputs/tune/<study_name>``). The output directory gets ``study.db``, ``best/`` (ready configs),
``report.md`` with its PNGs, and ``tune_summary.json``.
"""

from __future__ import annotations

import copy
import fcntl
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from optuna.trial import TrialState

from entropic.allocator import retain_freed_memory
from entropic.cli import help as _help  # noqa: F401  (registers the help templates' resolver)
from entropic.experiment import check_entropy_target, validate
from entropic.loop import TrainerConfig
from entropic.tuning.study.batch import Method, Simulator
from entropic.tuning.study.config import TuneConfig
from entropic.tuning.study.export import export_method
from entropic.tuning.study.optuna_study import (
    best_trials,
    check_same_setup,
    enqueue_warm_start,
    open_study,
    study_setup,
)
from entropic.tuning.study.recovery import worker_id
from entropic.tuning.study.report import write_report
from entropic.tuning.study.runner import StudyRunner
from entropic.tuning.study.space import SearchSpace, load_preset, method_from_config, method_from_presets
from entropic.tuning.study.storage import check_no_password, make_storage, masked, storage_url
from entropic.tuning.study.targets import check_targets, get_targets, score_methods

log = logging.getLogger(__name__)


def tune_config(cfg: DictConfig) -> TuneConfig:
    """The validated ``tune`` section; a bad value raises ``ValueError`` naming it."""
    try:
        tune = OmegaConf.to_container(cfg, resolve=True).get("tune") or {}  # resolved against the root
    except OmegaConfBaseException as error:
        raise ValueError(f"invalid config: {error}") from error
    return validate(tune, TuneConfig, "tune")


def run_config(cfg: DictConfig) -> dict[str, Any]:
    """The composed run part of ``cfg`` (everything but ``tune`` and ``hydra``), resolved."""
    data = OmegaConf.to_container(cfg, resolve=True)
    return {k: v for k, v in data.items() if k not in ("tune", "hydra")}


def warm_start_methods(tune: TuneConfig, base: Method, space: SearchSpace | None = None) -> dict[str, Method]:
    """The search's starting point, the analytic designs and the published defaults (validated methods)."""
    methods: dict[str, Method] = {}
    if tune.warm_start.preset and space is not None:
        methods["preset"] = copy.deepcopy(space.branches[0].base if space.branches else space.base)
    for path in tune.warm_start.design:
        for file in _design_files(Path(path)):
            methods[f"design:{file.stem}"] = method_from_presets(base, controller=str(file))
    for name, baseline in tune.warm_start.baselines.items():
        if baseline is None:
            continue
        method = method_from_presets(base, baseline.method, controller=baseline.controller,
                                     keep_controller=False)
        method.control = {**method.control, **{k: float(v) for k, v in baseline.control.items()}}
        if baseline.law:
            if method.controller is None:
                raise ValueError(f"tune.warm_start.baselines.{name}.law needs a controller")
            method.controller["law"].update(baseline.law)
        methods[name] = method
    if any(name != "preset" and method == methods.get("preset") for name, method in methods.items()):
        del methods["preset"]  # the starting point is one of the defaults already
    for name, method in methods.items():
        try:
            validate(method.run_config())
        except ValueError as error:
            raise ValueError(f"tune.warm_start {name!r}: {error}") from error
    return methods


def _design_files(path: Path) -> list[Path]:
    """A controller YAML, or the controller YAMLs (with a ``law``) of a design output directory.

    In a directory, ``controller/*.yaml`` (what ``entropic-design`` writes) or else its top-level YAMLs.
    """
    if not path.exists():
        raise ValueError(f"tune.warm_start.design: {str(path)!r} does not exist")
    if path.is_file():
        return [path]
    files = []
    candidates = sorted((path / "controller").glob("*.y*ml")) or sorted(path.glob("*.y*ml"))
    for file in candidates:
        try:
            load_preset("controller", str(file))["law"]
        except (ValueError, KeyError, TypeError, OmegaConfBaseException):
            continue
        files.append(file)
    if not files:
        raise ValueError(f"tune.warm_start.design: no controller YAML (with a 'law') under {str(path)!r}")
    return files


def run_study(cfg: DictConfig, output_dir: str | Path) -> dict[str, Any]:
    """Validate everything, run this worker's share of the study, then export and report.

    Returns
    -------
    dict
        The summary also written to ``tune_summary.json``: storage, trials told by this worker,
        counts by state, the best trial(s), exported files and the report's path.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    tune_cfg = tune_config(cfg)
    threads = torch.get_num_threads()
    if tune_cfg.threads is not None:
        torch.set_num_threads(tune_cfg.threads)
    try:
        return _tune(cfg, tune_cfg, output_dir)
    finally:
        torch.set_num_threads(threads)


def _tune(cfg: DictConfig, tune_cfg: TuneConfig, output_dir: Path) -> dict[str, Any]:
    run = run_config(cfg)
    validate(run)  # the run part as entropic-train checks it: types, ranges, unknown keys
    trainer = TrainerConfig(**{k: v for k, v in (run.get("trainer") or {}).items()
                               if k in ("steps", "ppo_epochs", "ppo_mini_batch_size")})
    base = method_from_config(run)
    targets = get_targets(tune_cfg.targets)
    settings = tune_cfg.settings()
    check_targets(targets, settings, (run.get("backend") or {}).get("eval_k"))
    space = SearchSpace(tune_cfg.space, base)
    warm = warm_start_methods(tune_cfg, base, space)
    seed = int(run.get("seed", 0))
    seeds = [seed + s for s in range(tune_cfg.seeds)]
    simulator = Simulator(backend=run["backend"], trainer=trainer, workdir=output_dir / "sim")
    backend = instantiate(run["backend"], num_runs=1, seeds=seeds[:1])  # a bad backend config fails before any trial
    if settings.target_entropy is not None:
        check_entropy_target("tune.target_entropy", settings.target_entropy, getattr(backend, "max_entropy", None))

    url = storage_url(tune_cfg.storage, output_dir)
    study, created = open_study(tune_cfg, make_storage(url), targets, trainer.steps)
    check_same_setup(study, study_setup(run, tune_cfg))
    if created:
        study.set_user_attr("seeds", seeds)
        enqueued = enqueue_warm_start(study, warm)
        log.info("created study %r in %s; warm start: %s", tune_cfg.study_name, masked(url), enqueued)
    else:
        log.info("joined study %r in %s (%d trials so far)", tune_cfg.study_name, masked(url), len(study.trials))
    started, cpu_started = time.perf_counter(), time.process_time()
    runner = StudyRunner(study, space, simulator, targets, tune_cfg, seeds, worker=worker_id())
    told = runner.run()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started

    trials = study.get_trials(deepcopy=False)
    summary: dict[str, Any] = {
        "study_name": tune_cfg.study_name, "storage": masked(url), "worker": runner.worker, "told": told,
        "seconds": elapsed, "cpu_seconds": cpu,
        "counts": {s.name: sum(t.state == s for t in trials) for s in TrialState},
        "targets": [target.name for target in targets], "seeds": seeds,
    }
    best = best_trials(study)
    summary["best"] = [{"number": t.number, "values": t.values, "params": t.params,
                        "baseline": t.user_attrs.get("baseline")} for t in best]
    if best and tune_cfg.export:
        top = best[0]
        line = ", ".join(f"{target.name}={v:.4g}" for target, v in zip(targets, top.values, strict=True))
        summary["export"] = export_method(Method.from_dict(top.user_attrs["method"]), output_dir / "best",
                                          f"tuned_{tune_cfg.study_name}", run, tune_cfg.study_name, top.number,
                                          f"{line} on seeds {seeds}")
    heldout = {}
    if best and tune_cfg.report and tune_cfg.heldout_seeds:
        heldout_seeds = [seed + tune_cfg.heldout_offset + s for s in range(tune_cfg.heldout_seeds)]
        methods = {"best": Method.from_dict(best[0].user_attrs["method"]), **warm}
        heldout = score_methods(simulator, methods, heldout_seeds, targets, settings)
        summary["heldout"] = {"seeds": heldout_seeds, "values": {
            name: {target.name: score.mean(target.name) for target in targets} for name, score in heldout.items()},
            "errors": {name: score.error for name, score in heldout.items() if score.error}}
    with _exclusive(output_dir / ".tune_summary.lock"):  # workers sharing the output directory write in turn
        if best and tune_cfg.report:
            summary["report"] = str(write_report(study, targets, heldout, summary, output_dir, settings.target_entropy))
        summary["workers"] = _merged_workers(output_dir / "tune_summary.json", runner.worker, told, elapsed, cpu)
        _write_atomically(output_dir / "tune_summary.json", json.dumps(summary, indent=2, default=str))
    return summary


@contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock`` (created if missing) for the ``with`` block."""
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _merged_workers(path: Path, worker: str, told: list[int], seconds: float, cpu: float) -> dict[str, Any]:
    """Every worker's trials and times in the summary at ``path``, this worker's run added (nothing lost)."""
    workers = json.loads(path.read_text()).get("workers", {}) if path.exists() else {}
    entry = workers.setdefault(worker, {"told": [], "seconds": 0.0, "cpu_seconds": 0.0})
    entry["told"] = sorted(set(entry["told"]) | set(told))
    entry["seconds"] += seconds
    entry["cpu_seconds"] += cpu
    return workers


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main() -> float | None:
    """``entropic-tune``: refuse a password in ``tune.storage`` before Hydra records the command line."""
    for item in sys.argv[1:]:
        key, _, value = item.partition("=")
        if key.lstrip("+") == "tune.storage" and value not in ("", "null"):
            try:
                check_no_password(value)
            except ValueError as error:
                print(f"entropic-tune: {error}", file=sys.stderr)  # noqa: T201 -- before logging exists
                raise SystemExit(2) from None
    return _main()


@hydra.main(version_base="1.3", config_path="pkg://entropic.configs", config_name="tune/default")
def _main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the best value of the first target (for Hydra sweepers)."""
    retain_freed_memory()
    try:
        summary = run_study(cfg, HydraConfig.get().runtime.output_dir)
    except (ValueError, InstantiationException) as error:
        cause = error.__cause__ if isinstance(error, InstantiationException) and error.__cause__ else error
        log.error("%s", cause)
        raise SystemExit(1) from error
    if summary.get("report"):
        log.info("report: %s", summary["report"])
    log.info("open the study: optuna-dashboard %s", summary["storage"])
    best = summary.get("best") or []
    return best[0]["values"][0] if best else None


if __name__ == "__main__":
    main()
