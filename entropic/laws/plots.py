"""Draw the figure specifications of :mod:`entropic.laws.figures` as PNG files (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _array(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _bands(ax: plt.Axes, figure: dict) -> None:
    for label, series in figure["series"].items():
        steps = np.asarray(series["steps"])
        line, = ax.plot(steps, _array(series["mean"]), label=label, lw=1.4)
        ax.fill_between(steps, _array(series["low"]), _array(series["high"]), color=line.get_color(), alpha=0.2)
    if figure.get("hline") is not None:
        ax.axhline(figure["hline"], color="k", ls="--", lw=0.8)


def _scatter(ax: plt.Axes, figure: dict) -> None:
    lows, highs = [], []
    for label, series in figure["series"].items():
        x, y = _array(series["x"]), _array(series["y"])
        ax.scatter(x, y, s=6, alpha=0.6, label=label)
        lows.append(np.nanmin(np.concatenate([x, y])))
        highs.append(np.nanmax(np.concatenate([x, y])))
    if figure.get("identity") and lows:
        ax.plot([min(lows), max(highs)], [min(lows), max(highs)], "k--", lw=0.8, label="y = x")


def _lines(ax: plt.Axes, figure: dict) -> None:
    for label, series in figure["series"].items():
        x, mean = _array(series["x"]), _array(series["mean"])
        low, high = _array(series["low"]), _array(series["high"])
        error = np.stack([np.clip(mean - low, 0, None), np.clip(high - mean, 0, None)])
        ax.errorbar(x, mean, yerr=np.nan_to_num(error, posinf=0.0), marker="o", capsize=3, label=label)
    if figure.get("logx"):
        ax.set_xscale("log")
    if figure.get("logy"):
        ax.set_yscale("log")


def _bars(ax: plt.Axes, figure: dict) -> None:
    labels = list(figure["categories"])
    mean = _array([figure["categories"][k]["mean"] for k in labels])
    low = _array([figure["categories"][k]["low"] for k in labels])
    high = _array([figure["categories"][k]["high"] for k in labels])
    error = np.nan_to_num(np.stack([mean - low, high - mean]), posinf=0.0)
    ax.bar(labels, mean, yerr=error, capsize=4, color=["C3", "C0", "C1", "C2"][: len(labels)])
    ax.axhline(0.0, color="k", lw=0.8)


def _fit(ax: plt.Axes, figure: dict) -> None:
    for label, points in figure["points"].items():
        ax.scatter(_array(points["x"]), _array(points["y"]), s=6, alpha=0.5, label=label)
    for label, curve in figure["curves"].items():
        ax.plot(_array(curve["x"]), _array(curve["y"]), lw=1.6, label=label)


_DRAW = {"bands": _bands, "scatter": _scatter, "lines": _lines, "bars": _bars, "fit": _fit}


def draw(figure: dict, directory: Path) -> Path:
    """Draw one figure specification to ``directory/<name>.png`` and return the path."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    try:
        _DRAW[figure["kind"]](ax, figure)
        ax.set_title(figure["title"], fontsize=10)
        ax.set_xlabel(figure.get("xlabel", ""))
        ax.set_ylabel(figure.get("ylabel", ""))
        if figure["kind"] != "bars":
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = directory / f"{figure['name']}.png"
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
