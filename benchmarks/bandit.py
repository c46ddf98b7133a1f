"""Softmax-bandit GRPO throughput: a naive single-run loop vs entropic's vectorised bandit (CPU).

Usage: ``python benchmarks/bandit.py [--steps 30 --repeats 3 --json benchmarks/bandit.json]``.

For a small (P=64, K=32, G=8) and a large (P=512, K=64, G=8) problem it measures, in one process:

- ``naive``: one run, written plainly: tabular logits, ``torch.multinomial``, GRPO advantages,
  the PPO surrogate at ratio 1, ``torch.optim.SGD``;
- ``entropic R=n``: the five moves (rollout, advantages, score, objective, apply) of
  ``entropic.sims.SoftmaxBanditBackend`` with n independent runs, through the shared objective library;
- ``softmax floor``: one ``torch.softmax`` over the same ``[R, P, K]`` logits.

Every time is the median over steps of one measurement, and the fastest of ``--repeats``
measurements (a shared 2-core machine's memory bandwidth varies from minute to minute; the naive
loop gets the same treatment). It prints run-steps per second, the speed-up over the naive loop,
nanoseconds per logit of the policy (``R * P * K`` per step) and the split of entropic's step
between the moves, and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
from step_timer import MOVES, time_moves

from entropic.allocator import retain_freed_memory
from entropic.sims import BanditConfig, SoftmaxBanditBackend

PROBLEMS = {"small": (64, 32, 8), "large": (512, 64, 8)}


def naive_grpo_seconds(prompts: int, arms: int, group: int, steps: int, lr: float = 32.0) -> float:
    """Median seconds per step of a plain single-run GRPO loop on a tabular softmax bandit."""
    generator = torch.Generator().manual_seed(0)
    correct = torch.zeros(prompts, arms)
    correct[:, : arms // 4] = 1.0
    logits = torch.randn(prompts, arms, generator=generator).requires_grad_(True)
    optimizer = torch.optim.SGD([logits], lr=lr)
    rows = torch.arange(prompts).unsqueeze(-1)
    seconds = []
    for step in range(steps + 1):  # step 0 warms up
        start = time.perf_counter()
        with torch.no_grad():
            arms_drawn = torch.multinomial(torch.softmax(logits, -1), group, replacement=True, generator=generator)
        rewards = correct[rows, arms_drawn]  # [P, G]
        advantages = (rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-6)
        log_probs = torch.log_softmax(logits, -1)[rows, arms_drawn]  # [P, G]
        ratio = torch.exp(log_probs - log_probs.detach())
        loss = torch.maximum(-advantages * ratio, -advantages * ratio.clamp(0.8, 1.2)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step:
            seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def entropic_seconds(prompts: int, arms: int, group: int, runs: int, steps: int) -> dict[str, float]:
    """Median seconds per step of each of the five moves (and ``total``) for ``runs`` vectorised runs."""
    # GRPO without a KL term needs neither the [B, T, K] logits copy nor the reference log-probs
    config = BanditConfig(num_prompts=prompts, num_arms=arms, group_size=group, return_logits=False,
                          use_reference=False)
    return time_moves(SoftmaxBanditBackend(config, num_runs=runs), steps)


def softmax_floor_seconds(prompts: int, arms: int, runs: int, repeats: int = 50) -> float:
    logits = torch.randn(runs, prompts, arms)
    torch.softmax(logits, -1)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.softmax(logits, -1)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    retain_freed_memory()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps of entropic at each R")
    parser.add_argument("--naive-steps", type=int, default=300, help="timed steps of the naive loop")
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 64, 1000])
    parser.add_argument("--repeats", type=int, default=3,
                        help="measure every row this many times and keep the fastest (the least disturbed)")
    parser.add_argument("--json", default="benchmarks/bandit.json")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    header = (f"{'problem':7s} {'variant':14s} {'ms/step':>9s} {'run-steps/s':>12s} {'vs naive':>9s} "
              f"{'ns/logit':>9s} {'floor ns':>9s}  " + " ".join(f"{m:>9s}" for m in MOVES))
    print(header)
    results = []
    for problem, (P, K, G) in PROBLEMS.items():
        naive = min(naive_grpo_seconds(P, K, G, args.naive_steps) for _ in range(args.repeats))
        floor = softmax_floor_seconds(P, K, 1)
        results.append({"problem": problem, "variant": "naive", "runs": 1, "seconds_per_step": naive,
                        "run_steps_per_s": 1 / naive, "speedup": 1.0, "ns_per_logit": naive * 1e9 / (P * K),
                        "softmax_floor_ns_per_logit": floor * 1e9 / (P * K)})
        print(f"{problem:7s} {'naive':14s} {naive * 1e3:9.2f} {1 / naive:12.0f} {1.0:9.1f} "
              f"{naive * 1e9 / (P * K):9.2f} {floor * 1e9 / (P * K):9.2f}")
        for runs in args.runs:
            moves = min((entropic_seconds(P, K, G, runs, args.steps) for _ in range(args.repeats)),
                        key=lambda measured: measured["total"])
            total = moves["total"]
            floor = softmax_floor_seconds(P, K, runs)
            logits = runs * P * K
            row = {"problem": problem, "variant": f"entropic R={runs}", "runs": runs, "seconds_per_step": total,
                   "run_steps_per_s": runs / total, "speedup": runs * naive / total,
                   "ns_per_logit": total * 1e9 / logits, "softmax_floor_ns_per_logit": floor * 1e9 / logits,
                   "moves_ms": {m: moves[m] * 1e3 for m in MOVES}}
            results.append(row)
            print(f"{problem:7s} {row['variant']:14s} {total * 1e3:9.2f} {runs / total:12.0f} "
                  f"{row['speedup']:9.1f} {row['ns_per_logit']:9.2f} {row['softmax_floor_ns_per_logit']:9.2f}  "
                  + " ".join(f"{moves[m] * 1e3:9.2f}" for m in MOVES))
    with open(args.json, "w") as handle:
        json.dump({"threads": torch.get_num_threads(), "torch": torch.__version__, "repeats": args.repeats,
                   "statistic": "fastest of the repeats' medians over steps", "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
