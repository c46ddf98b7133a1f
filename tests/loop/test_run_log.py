"""The run log: metrics.jsonl lines and TensorBoard scalars read back from the event files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from entropic.run_log import RunLog, read_metric


def scalars(directory: Path, tag: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(directory)).Reload()
    return [(event.step, event.value) for event in events.Scalars(tag)]


def test_every_step_lands_in_jsonl_and_tensorboard_with_per_run_values(tmp_path: Path) -> None:
    log = RunLog(tmp_path, num_runs=2)
    for step in range(3):
        log.log(step, {"reward/mean": torch.tensor([0.25 * step, 0.5]),
                       "entropy/mean": torch.tensor([1.0, math.nan])})
    log.close()
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines[2] == {"step": 2, "entropy/mean": [1.0, None], "reward/mean": [0.5, 0.5]}
    assert read_metric(tmp_path, "reward/mean").tolist() == [[0.0, 0.5], [0.25, 0.5], [0.5, 0.5]]
    board = tmp_path / "tensorboard"
    assert scalars(board, "reward/mean") == [(0, 0.25), (1, 0.375), (2, 0.5)]  # mean over runs
    assert scalars(board, "entropy/mean") == [(0, 1.0), (1, 1.0), (2, 1.0)]  # NaN runs left out
    assert scalars(board / "run0", "reward/mean") == [(0, 0.0), (1, 0.25), (2, 0.5)]
    assert all(math.isnan(value) for _, value in scalars(board / "run1", "entropy/mean"))
