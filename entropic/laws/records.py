"""A run's ``metrics.jsonl`` as arrays: one ``[S, R]`` array per metric (steps x runs).

``metrics.jsonl`` (written by :class:`entropic.run_log.RunLog`) has one line a step; a value is a
float when R = 1 and a list of R floats otherwise, ``null`` for a non-finite value, and a metric
logged only on some steps (evaluation) is absent from the others. Here every metric becomes a
float64 array ``[S, R]`` with NaN where it was not logged or not finite.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class RunRecords:
    """Per-step metrics of one (possibly vectorised) run.

    Attributes
    ----------
    steps : ndarray [S]
        Logged step indices, increasing.
    metrics : dict[str, ndarray [S, R]]
        Every metric by name.
    num_runs : int
        R.
    directory : Path, optional
        Where the records were read from.
    """

    steps: np.ndarray
    metrics: dict[str, np.ndarray]
    num_runs: int
    directory: Path | None = None

    @classmethod
    def load(cls, directory: str | Path) -> RunRecords:
        """Read ``directory/metrics.jsonl`` (or a ``.jsonl`` file given directly)."""
        path = Path(directory)
        path = path if path.suffix == ".jsonl" else path / "metrics.jsonl"
        if not path.exists():
            raise FileNotFoundError(f"no metrics file at {path}")
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return cls.from_lines(lines, path.parent)

    @classmethod
    def from_lines(cls, lines: list[dict[str, Any]], directory: Path | None = None) -> RunRecords:
        """Build from parsed ``metrics.jsonl`` records (``{"step": s, name: value, ...}``)."""
        if not lines:
            raise ValueError("metrics records are empty")
        num_runs = max(len(v) if isinstance(v, list) else 1 for line in lines for k, v in line.items()
                       if k != "step")
        names = sorted({name for line in lines for name in line if name != "step"})
        metrics = {name: np.full((len(lines), num_runs), np.nan) for name in names}
        for i, line in enumerate(lines):
            for name, value in line.items():
                if name == "step":
                    continue
                values = value if isinstance(value, list) else [value] * num_runs
                metrics[name][i] = [math.nan if v is None else float(v) for v in values]
        steps = np.array([line["step"] for line in lines], dtype=np.int64)
        return cls(steps, metrics, num_runs, directory)

    def __contains__(self, name: str) -> bool:
        return name in self.metrics

    def __getitem__(self, name: str) -> np.ndarray:
        """The ``[S, R]`` array of ``name``; an unknown name raises ``KeyError`` listing the logged ones."""
        try:
            return self.metrics[name]
        except KeyError:
            raise KeyError(f"metric {name!r} was not logged; logged: {sorted(self.metrics)}") from None

    def select(self, runs: list[int] | np.ndarray) -> RunRecords:
        """The records of a subset of runs (columns), in the given order."""
        index = np.asarray(runs, dtype=np.int64)
        return RunRecords(self.steps, {k: v[:, index] for k, v in self.metrics.items()}, index.size, self.directory)

    def final(self, name: str, window: int = 1) -> np.ndarray:
        """``[R]``: mean of the last ``window`` finite values of ``name`` in each run."""
        values = self[name]
        out = np.full(self.num_runs, np.nan)
        for r in range(self.num_runs):
            column = values[:, r]
            column = column[np.isfinite(column)]
            if column.size:
                out[r] = column[-window:].mean()
        return out

    def window(self, name: str, start: float, stop: float = 1.0) -> np.ndarray:
        """``[R]``: mean of ``name`` over the steps in the fraction ``[start, stop)`` of the run (NaNs ignored)."""
        values = self[name]
        lo, hi = int(round(start * len(self.steps))), max(int(round(stop * len(self.steps))), 1)
        chunk = values[lo:hi]
        finite = np.isfinite(chunk)
        counts = finite.sum(0)
        sums = np.where(finite, chunk, 0.0).sum(0)
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
