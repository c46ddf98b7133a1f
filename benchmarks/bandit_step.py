"""Time one GRPO step of the softmax bandit (CPU) for several numbers of runs R.

Usage: ``python benchmarks/bandit_step.py [--runs 1 64 1000 --prompts 64 --arms 32 --group 8 --mode sampled]``.
A step is the five moves: rollout, GRPO advantages, score, vanilla objective, apply. Prints ms per
step, the split between the moves, and run-steps per second.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections import defaultdict

import torch

from bandits import BanditConfig, SoftmaxBanditBackend
from entropic.advantages import AdvantageConfig, compute_advantages
from entropic.control import Control
from entropic.objectives import Objective, ObjectiveConfig, PolicyBatch


def time_steps(backend: SoftmaxBanditBackend, steps: int) -> dict[str, float]:
    """Mean seconds per step of each move, and ``total``."""
    objective, control, advantage = Objective(ObjectiveConfig()), Control(), AdvantageConfig()
    totals: dict[str, float] = defaultdict(float)
    for step in range(steps + 1):  # step 0 warms up
        marks = [time.perf_counter()]
        rollout = backend.rollout()
        marks.append(time.perf_counter())
        advantages = compute_advantages(rollout, advantage)
        marks.append(time.perf_counter())
        stats = backend.score(rollout)
        marks.append(time.perf_counter())
        loss, _ = objective(PolicyBatch.from_step(rollout, stats, advantages), control)
        marks.append(time.perf_counter())
        backend.apply(loss)
        marks.append(time.perf_counter())
        if step:
            for name, start, end in zip(("rollout", "advantages", "score", "objective", "apply"), marks, marks[1:],
                                        strict=False):
                totals[name] += (end - start) / steps
            totals["total"] += (marks[-1] - marks[0]) / steps
    return dict(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 64, 1000])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--arms", type=int, default=32)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--mode", default="sampled")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    config = BanditConfig(num_prompts=args.prompts, num_arms=args.arms, group_size=args.group, mode=args.mode)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; P={args.prompts} K={args.arms} G={args.group} mode={args.mode}")
    print(f"{'R':>6} {'ms/step':>9} {'rollout':>8} {'adv':>8} {'score':>8} {'objective':>9} {'apply':>8} "
          f"{'run-steps/s':>12}")
    for runs in args.runs:
        t = time_steps(SoftmaxBanditBackend(config, num_runs=runs), args.steps)
        ms = {name: 1e3 * value for name, value in t.items()}
        print(f"{runs:>6} {ms['total']:>9.2f} {ms['rollout']:>8.2f} {ms['advantages']:>8.2f} {ms['score']:>8.2f} "
              f"{ms['objective']:>9.2f} {ms['apply']:>8.2f} {runs / t['total']:>12.0f}")


if __name__ == "__main__":
    main()
