"""Where a run's numbers go: ``metrics.jsonl`` (one line a step) and TensorBoard event files.

Every metric is a per-run tensor ``[R]``. In ``metrics.jsonl`` a value is a float when
R = 1 and a list of R floats otherwise. TensorBoard gets the mean over runs under the
metric's name and, for up to ``max_tensorboard_runs`` runs, one sub-directory per run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

Metrics = dict[str, torch.Tensor]


def _jsonable(values: list[float]) -> float | list[float | None] | None:
    """One value or a list of per-run values, non-finite ones as ``null``."""
    values = [v if math.isfinite(v) else None for v in values]
    return values[0] if len(values) == 1 else values


def _scalars(values: dict[str, float]) -> Any:
    """One TensorBoard ``Summary`` holding every scalar of a step (one event, not one per scalar)."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    return Summary(value=[Summary.Value(tag=name, simple_value=value) for name, value in values.items()])


def _nan_mean(values: list[float]) -> float:
    """Mean over runs, NaN readings left out (``torch.nanmean``; NaN when all are NaN)."""
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


def _step_of(line: str, default: int) -> int:
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError):
        return default


class RunLog:
    """Append-only metric log of one (possibly vectorised) training run.

    Parameters
    ----------
    directory : str or Path
        Output directory; ``metrics.jsonl`` and ``tensorboard/`` are created inside.
    num_runs : int
        R.
    tensorboard : bool
        Write TensorBoard event files.
    max_tensorboard_runs : int
        Per-run TensorBoard sub-directories are written only up to this many runs.
    """

    def __init__(self, directory: str | Path, num_runs: int, tensorboard: bool = True,
                 max_tensorboard_runs: int = 16) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "metrics.jsonl"
        self.num_runs = num_runs
        self._writers = []
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            root = self.directory / "tensorboard"
            self._writers.append(SummaryWriter(str(root)))
            if 1 < num_runs <= max_tensorboard_runs:
                self._writers += [SummaryWriter(str(root / f"run{r}")) for r in range(num_runs)]

    def truncate_after(self, step: int) -> None:
        """Drop lines logged after ``step`` and a line torn by a kill (on resume, so that the resumed log
        equals an unbroken one)."""
        if not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines() if _step_of(line, default=step + 1) <= step]
        self.path.write_text("".join(line + "\n" for line in kept))

    def log(self, step: int, metrics: Metrics, histograms: dict[str, torch.Tensor] | None = None) -> None:
        """Append one step: scalars to ``metrics.jsonl`` and TensorBoard, histograms to TensorBoard."""
        values = {name: value.detach().double().cpu().reshape(-1).tolist() for name, value in sorted(metrics.items())}
        record = {"step": step, **{name: _jsonable(value) for name, value in values.items()}}
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        if not self._writers:
            return
        mean_writer, run_writers = self._writers[0], self._writers[1:]
        mean_writer.file_writer.add_summary(_scalars({name: _nan_mean(v) for name, v in values.items()}), step)
        for r, writer in enumerate(run_writers):
            writer.file_writer.add_summary(_scalars({name: v[r] for name, v in values.items() if r < len(v)}), step)
        for name, values in (histograms or {}).items():
            finite = values[torch.isfinite(values)]
            if finite.numel():
                mean_writer.add_histogram(name, finite, step)

    def flush(self) -> None:
        for writer in self._writers:
            writer.flush()

    def close(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers = []


def read_metric(directory: str | Path, name: str) -> torch.Tensor:
    """The trajectory of one metric from ``directory/metrics.jsonl`` as ``[S, R]`` (steps where it was logged).

    Missing values (null: non-finite when written) read back as NaN.
    """
    rows = [json.loads(line) for line in (Path(directory) / "metrics.jsonl").read_text().splitlines()]
    values = [row[name] for row in rows if name in row]
    if not values:
        raise ValueError(f"metric {name!r} was never logged in {directory}")
    as_lists = [v if isinstance(v, list) else [v] for v in values]
    return torch.tensor([[math.nan if x is None else x for x in v] for v in as_lists], dtype=torch.float64)
