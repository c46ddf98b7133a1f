"""The five moves of one GRPO step, timed: shared by the simulator benchmarks.

Each move's time is the median over the timed steps (the first step warms up and is dropped): a
2-core machine has allocator and scheduler spikes that a mean would spread over every step.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict

from entropic.advantages import AdvantageConfig, compute_advantages
from entropic.control import Control
from entropic.objectives import Objective, ObjectiveConfig, PolicyBatch
from entropic.protocol import Backend

MOVES = ("rollout", "advantages", "score", "objective", "apply")


def time_moves(backend: Backend, steps: int) -> dict[str, float]:
    """Median seconds of each move and of the whole step (``total``), and median valid tokens a step (``tokens``)."""
    objective, control, advantage = Objective(ObjectiveConfig()), Control(), AdvantageConfig()
    samples: dict[str, list[float]] = defaultdict(list)
    for step in range(steps + 1):
        marks = [time.perf_counter()]
        rollout = backend.rollout()
        marks.append(time.perf_counter())
        advantages = compute_advantages(rollout, advantage)
        marks.append(time.perf_counter())
        stats = backend.score(rollout)
        marks.append(time.perf_counter())
        loss, _ = objective(PolicyBatch.from_step(rollout, stats, advantages), control)
        marks.append(time.perf_counter())
        backend.backward(loss)
        backend.step()
        marks.append(time.perf_counter())
        if step:
            for name, begin, end in zip(MOVES, marks[:-1], marks[1:], strict=True):
                samples[name].append(end - begin)
            samples["total"].append(marks[-1] - marks[0])
            samples["tokens"].append(float(rollout.mask.sum()))
    return {name: statistics.median(values) for name, values in samples.items()}
