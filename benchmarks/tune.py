"""Trials per minute of an entropic-tune study: batched trials on 1 and 2 workers vs one trial at a time.

Usage::

    python benchmarks/tune.py                 # 200 trials of PI gains, 5 seeds x 1,000 steps; 1 and 2 workers
    python benchmarks/tune.py --workers 2     # only two worker processes sharing one SQLite study
    python benchmarks/tune.py --trials 8 --batch 4 --seeds 2 --steps 50 --single-trials 2 --json quick.json  # seconds

Batched: for each N of ``--workers``, N processes of ``entropic-tune`` (``python -m entropic.tuning.study.cli``) share
one study in a SQLite file, as workers of ``entropic-tune`` do, on the standard bandit
(``configs/tune/default.yaml``: PI gains of the entropy bonus, median pruner, the four warm-start
trials included). One worker runs ``--threads`` torch threads; several run one thread each
(``tune.threads=1``, ``OMP_NUM_THREADS=1``), one per core. One at a time: one worker on the same
study with ``tune.batch_size=1`` and no warm start, for ``--single-trials`` trials. Prints a table
and writes ``benchmarks/tune.json``. A study's time runs from its first trial's start to its last
trial's end (as the study records them: the Python start-up is not in it); trials per minute are
over that time. CPU seconds per trial (the study loops' own) do not depend on other jobs sharing the
machine; CPU time / cores used estimates the study's time on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def run_study(out: Path, name: str, overrides: list[str], workers: int, threads: int) -> dict:
    """Run ``workers`` entropic-tune processes on one SQLite study; returns timing and counts."""
    storage = f"sqlite:///{out / f'{name}.db'}"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cpu_before = _children_cpu()
    started = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, "-m", "entropic.tuning.study.cli",
                                   f"hydra.run.dir={out / name / f'w{i}'}", f"tune.storage={storage}",
                                   f"tune.study_name={name}", "tune.report=false", "tune.export=false",
                                   f"tune.threads={threads}", *overrides],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
                 for i in range(workers)]
    errors = [process.communicate()[1] for process in processes]
    failed = [err for process, err in zip(processes, errors, strict=True) if process.returncode]
    if failed:
        raise RuntimeError(f"entropic-tune failed:\n{failed[0][-3000:]}")
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    summaries = [json.loads((out / name / f"w{i}" / "tune_summary.json").read_text()) for i in range(workers)]
    trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    finished = [t for t in trials if t.datetime_complete is not None]
    study_s = (max(t.datetime_complete for t in finished) - min(t.datetime_start for t in finished)).total_seconds()
    told = sum(len(s["told"]) for s in summaries)
    study_cpu = sum(s["cpu_seconds"] for s in summaries)  # the study loops only: no start-up, no calibration
    return {"workers": workers, "threads": threads, "trials": told, "study_s": study_s, "wall_s": wall, "cpu_s": cpu,
            "study_cpu_s": study_cpu, "trials_per_min": 60.0 * told / study_s, "cpu_s_per_trial": study_cpu / told,
            "idle_estimate_s": study_cpu / min(workers * threads, os.cpu_count() or 1),
            "counts": {state: sum(t.state.name == state for t in trials) for state in ("COMPLETE", "PRUNED", "FAIL")}}


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes (load-independent, unlike wall time)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="worker processes sharing the batched study; one study per number given")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of a lone worker (several: 1 each)")
    parser.add_argument("--single-trials", type=int, default=4, help="trials of the one-at-a-time run (0 = skip)")
    parser.add_argument("--out", default=None, help="scratch directory (default: a temporary one)")
    parser.add_argument("--json", default=str(Path(__file__).with_name("tune.json")))
    args = parser.parse_args()
    if min(args.workers) < 1:
        parser.error("--workers takes numbers >= 1")
    out = Path(args.out or tempfile.mkdtemp(prefix="entropic-bench-tune-"))
    common = [f"trainer.steps={args.steps}", f"tune.seeds={args.seeds}"]
    load_before = os.getloadavg()[0]
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {load_before:.1f}; "
          f"standard bandit, PI gains, {args.seeds} seeds x {args.steps} steps a trial, batches of {args.batch}")
    rows = []
    for workers in args.workers:
        rows.append(("batched", args.batch, run_study(out, f"batched-{workers}w", [
            *common, f"tune.n_trials={args.trials}", f"tune.batch_size={args.batch}"], workers,
            args.threads if workers == 1 else 1)))
    if args.single_trials:
        rows.append(("one at a time", 1, run_study(out, "single", [
            *common, f"tune.n_trials={args.single_trials}", "tune.batch_size=1", "tune.warm_start.baselines={}",
            "tune.warm_start.preset=false"], 1, args.threads)))
    print(f"{'mode':>14} {'batch':>6} {'workers':>8} {'threads':>8} {'trials':>7} {'study s':>8} {'wall s':>7} "
          f"{'CPU s':>7} {'trials/min':>11} {'CPU s/trial':>12} {'idle est. s':>12}")
    for mode, batch, r in rows:
        print(f"{mode:>14} {batch:>6} {r['workers']:>8} {r['threads']:>8} {r['trials']:>7} {r['study_s']:>8.1f} "
              f"{r['wall_s']:>7.1f} {r['cpu_s']:>7.1f} {r['trials_per_min']:>11.1f} {r['cpu_s_per_trial']:>12.2f} "
              f"{r['idle_estimate_s']:>12.0f}")
    batched = {r["workers"]: r for mode, _, r in rows if mode == "batched"}
    results = {"args": {k: v for k, v in vars(args).items() if k not in ("out", "json")},
               "cpus": os.cpu_count(), "load": {"before": load_before, "after": os.getloadavg()[0]},
               "batched": {str(n): r for n, r in batched.items()}}
    for workers, r in batched.items():
        print(f"{workers} worker(s): {r['trials']} trials in {r['study_s']:.0f} s ({r['trials_per_min']:.0f} a minute)")
    if args.single_trials:
        single, lone = rows[-1][2], batched[min(batched)]
        results["one at a time"] = single
        results["speedup"] = lone["trials_per_min"] / single["trials_per_min"]
        results["cpu_speedup"] = single["cpu_s_per_trial"] / lone["cpu_s_per_trial"]
        print(f"batched speed-up ({min(batched)} worker(s)): {results['speedup']:.1f}x in wall time, "
              f"{results['cpu_speedup']:.1f}x in CPU time; one at a time, {args.trials} trials would take about "
              f"{60 * args.trials / single['trials_per_min']:.0f} s")
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
