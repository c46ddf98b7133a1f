"""Plot specifications: plain, JSON-ready dictionaries that :mod:`entropic.laws.report` draws.

Claims describe their figures as data (so ``laws.json`` holds everything a plot shows) with these
constructors; kinds:

- ``bands``: trajectories over steps, one line per series (mean over seeds) with a min-max band;
- ``scatter``: points per series, optionally with the identity line;
- ``lines``: y against x per series, with optional error bars and log axes;
- ``bars``: one bar per category with a confidence interval;
- ``fit``: scatter points with fitted curves.
"""

from __future__ import annotations

import numpy as np

from entropic.laws.records import RunRecords
from entropic.laws.stats import mean_ci


def _list(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=np.float64).reshape(-1)]


def band_series(steps: np.ndarray, values: np.ndarray) -> dict:
    """Mean, min and max over the columns (seeds) of ``values [S, seeds]`` at the steps where any is finite."""
    values = np.asarray(values, dtype=np.float64).reshape(len(steps), -1)
    logged = np.isfinite(values).any(1)
    chunk = values[logged]
    with np.errstate(all="ignore"):
        return {"steps": np.asarray(steps)[logged].tolist(), "mean": _list(np.nanmean(chunk, 1)),
                "low": _list(np.nanmin(chunk, 1)), "high": _list(np.nanmax(chunk, 1))}


def bands(name: str, title: str, ylabel: str, series: dict[str, RunRecords | tuple[np.ndarray, np.ndarray]],
          key: str | None = None, hline: float | None = None) -> dict:
    """A ``bands`` figure: per label, the runs of a :class:`RunRecords` (metric ``key``) or ``(steps, values)``."""
    data = {}
    for label, source in series.items():
        steps, values = (source.steps, source[key]) if isinstance(source, RunRecords) else source
        data[label] = band_series(steps, values)
    return {"name": name, "kind": "bands", "title": title, "xlabel": "step", "ylabel": ylabel, "series": data,
            "hline": hline}


def scatter(name: str, title: str, xlabel: str, ylabel: str, series: dict[str, tuple[np.ndarray, np.ndarray]],
            identity: bool = False) -> dict:
    """A ``scatter`` figure; ``series`` maps a label to ``(x, y)``."""
    return {"name": name, "kind": "scatter", "title": title, "xlabel": xlabel, "ylabel": ylabel, "identity": identity,
            "series": {label: {"x": _list(x), "y": _list(y)} for label, (x, y) in series.items()}}


def lines(name: str, title: str, xlabel: str, ylabel: str, series: dict[str, tuple[np.ndarray, np.ndarray]],
          logx: bool = False, logy: bool = False) -> dict:
    """A ``lines`` figure; ``series`` maps a label to ``(x [N], values [N, seeds])``: mean with 95% CI bars."""
    out = {}
    for label, (x, values) in series.items():
        estimates = [mean_ci(row) for row in np.asarray(values, dtype=np.float64).reshape(len(x), -1)]
        out[label] = {"x": _list(x), "mean": _list([e.mean for e in estimates]),
                      "low": _list([e.low for e in estimates]), "high": _list([e.high for e in estimates])}
    return {"name": name, "kind": "lines", "title": title, "xlabel": xlabel, "ylabel": ylabel, "series": out,
            "logx": logx, "logy": logy}


def bars(name: str, title: str, ylabel: str, categories: dict[str, np.ndarray]) -> dict:
    """A ``bars`` figure; ``categories`` maps a label to per-seed values (mean with 95% CI)."""
    estimates = {label: mean_ci(values) for label, values in categories.items()}
    return {"name": name, "kind": "bars", "title": title, "ylabel": ylabel,
            "categories": {label: {"mean": _list([e.mean])[0], "low": _list([e.low])[0], "high": _list([e.high])[0]}
                           for label, e in estimates.items()}}


def fit(name: str, title: str, xlabel: str, ylabel: str, points: dict[str, tuple[np.ndarray, np.ndarray]],
        curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """A ``fit`` figure: scattered ``points`` and fitted ``curves`` (label -> ``(x, y)`` each)."""
    return {"name": name, "kind": "fit", "title": title, "xlabel": xlabel, "ylabel": ylabel,
            "points": {label: {"x": _list(x), "y": _list(y)} for label, (x, y) in points.items()},
            "curves": {label: {"x": _list(x), "y": _list(y)} for label, (x, y) in curves.items()}}
