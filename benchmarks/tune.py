"""Trials per minute of an entropic-tune study: batched trials vs one trial at a time.

Usage::

    python benchmarks/tune.py                       # 200 trials of PI gains, 5 seeds, 1,000 steps, batches of 50
    python benchmarks/tune.py --workers 2           # two worker processes (one per core) sharing one SQLite study
    python benchmarks/tune.py --trials 40 --steps 300 --single-trials 3     # a quick look

Batched: ``--workers`` processes of ``entropic-tune`` (``python -m tuning.cli``) on the standard bandit
(``configs/tune/default.yaml``: PI gains of the entropy bonus, median pruner, the four warm-start
trials included), each with ``--threads`` torch threads. One at a time: the same study with
``tune.batch_size=1`` and no warm start, for ``--single-trials`` trials. Prints a table and writes
``benchmarks/tune.json``. Times are the study loops' own (``tune_summary.json``: wall and CPU
seconds, without the Python start-up). CPU seconds per trial do not depend on other jobs sharing
the machine; CPU time / cores used estimates the wall time on an idle machine.
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


def run_study(out: Path, name: str, overrides: list[str], workers: int) -> dict:
    """Run ``workers`` entropic-tune processes on one SQLite study; returns timing and counts."""
    storage = f"sqlite:///{out / f'{name}.db'}"
    cpu_before = _children_cpu()
    started = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, "-m", "tuning.cli", f"hydra.run.dir={out / name / f'w{i}'}",
                                   f"tune.storage={storage}", f"tune.study_name={name}", "tune.report=false",
                                   "tune.export=false", *overrides],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for i in range(workers)]
    for process in processes:
        _, err = process.communicate()
        if process.returncode:
            raise RuntimeError(f"entropic-tune failed:\n{err[-3000:]}")
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    summaries = [json.loads((out / name / f"w{i}" / "tune_summary.json").read_text()) for i in range(workers)]
    counts = summaries[-1]["counts"]
    trials = sum(len(s["told"]) for s in summaries)
    study_cpu = sum(s["cpu_seconds"] for s in summaries)  # the study loops only: no start-up, no calibration
    return {"wall_s": wall, "cpu_s": cpu, "study_cpu_s": study_cpu, "study_s": max(s["seconds"] for s in summaries),
            "trials": trials,
            "counts": counts}


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
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--single-trials", type=int, default=4, help="trials of the one-at-a-time run (0 = skip)")
    parser.add_argument("--out", default=None, help="scratch directory (default: a temporary one)")
    parser.add_argument("--json", default=str(Path(__file__).with_name("tune.json")))
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="entropic-bench-tune-"))
    common = [f"trainer.steps={args.steps}", f"tune.seeds={args.seeds}", f"tune.threads={args.threads}"]
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
          f"standard bandit, PI gains, {args.seeds} seeds x {args.steps} steps a trial, {args.threads} thread(s) "
          f"per worker")
    batched = run_study(out, "batched", [*common, f"tune.n_trials={args.trials}", f"tune.batch_size={args.batch}"],
                        args.workers)
    rows = [("batched", args.batch, args.workers, batched)]
    if args.single_trials:
        single = run_study(out, "single", [*common, f"tune.n_trials={args.single_trials}", "tune.batch_size=1",
                                           "tune.warm_start.baselines={}", "tune.warm_start.preset=false"], 1)
        rows.append(("one at a time", 1, 1, single))
    print(f"{'mode':>14} {'batch':>6} {'workers':>8} {'trials':>7} {'study s':>9} {'wall s':>8} {'CPU s':>8} "
          f"{'trials/min':>11} {'CPU s/trial':>12}")
    results = {"args": vars(args), "load": os.getloadavg()[0]}
    for mode, batch, workers, result in rows:
        rate = 60.0 * result["trials"] / result["study_s"]
        result["trials_per_min"] = rate
        result["cpu_s_per_trial"] = result["study_cpu_s"] / result["trials"]
        results[mode] = result
        print(f"{mode:>14} {batch:>6} {workers:>8} {result['trials']:>7} {result['study_s']:>9.1f} "
              f"{result['wall_s']:>8.1f} {result['cpu_s']:>8.1f} {rate:>11.1f} {result['cpu_s_per_trial']:>12.2f}")
    if args.single_trials:
        speedup = results["batched"]["trials_per_min"] / results["one at a time"]["trials_per_min"]
        cpu_speedup = results["one at a time"]["cpu_s_per_trial"] / results["batched"]["cpu_s_per_trial"]
        results["speedup"], results["cpu_speedup"] = speedup, cpu_speedup
        print(f"batched speed-up: {speedup:.1f}x in wall time, {cpu_speedup:.1f}x in CPU time; {args.trials} trials "
              f"take {results['batched']['study_s']:.0f} s batched, about "
              f"{60 * args.trials / results['one at a time']['trials_per_min']:.0f} s one at a time")
    per_core = results["batched"]["cpu_s_per_trial"] * args.trials / min(args.workers * args.threads,
                                                                        os.cpu_count() or 1)
    results["idle_estimate_s"] = per_core
    print(f"on an idle machine ({args.workers} worker(s) x {args.threads} thread(s)) {args.trials} trials would take "
          f"about {per_core:.0f} s (the study loops' CPU time / cores used)")
    Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
