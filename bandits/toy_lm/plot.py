"""Plot a run's reward and entropy from its ``metrics.jsonl``: ``python -m entropic.sims.toy_lm.plot RUN_DIR``.

Two panels against the step: reward (``reward/mean`` every step, ``eval/pass@1`` where evaluated) and
token entropy (``entropy/mean`` of the rollouts, ``eval/entropy`` where evaluated), each the mean over
runs with the spread of the runs shaded when there are several. Works for any ``entropic-train``
output directory (toy LM or bandit).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

PANELS = (("reward", ("reward/mean", "eval/pass@1")), ("token entropy (nats)", ("entropy/mean", "eval/entropy")))


def load_metrics(run_dir: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per metric, the steps ``[S]`` where it was logged and its values ``[S, R]``."""
    series: dict[str, tuple[list[int], list[list[float]]]] = {}
    for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        step = record.pop("step")
        for name, value in record.items():
            steps, values = series.setdefault(name, ([], []))
            steps.append(step)
            values.append([np.nan if v is None else v for v in (value if isinstance(value, list) else [value])])
    return {name: (np.array(steps), np.array(values, dtype=float)) for name, (steps, values) in series.items()}


def plot_run(run_dir: str | Path, out: str | Path, title: str | None = None) -> Path:
    """Write the two-panel PNG of ``run_dir`` to ``out``; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = load_metrics(run_dir)
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    for axis, (label, names) in zip(axes, PANELS, strict=True):
        for name, style in zip(names, ("-", "o--"), strict=True):
            if name not in metrics:
                continue
            steps, values = metrics[name]
            mean = np.nanmean(values, axis=1)
            line, = axis.plot(steps, mean, style, markersize=3, label=name)
            if values.shape[1] > 1:
                axis.fill_between(steps, np.nanmin(values, axis=1), np.nanmax(values, axis=1), alpha=0.2,
                                  color=line.get_color())
        axis.set_xlabel("step")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out


def main(argv: list[str] | None = None) -> None:
    """Command line: ``RUN_DIR [--out PNG] [--title TEXT]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="an entropic-train output directory (holds metrics.jsonl)")
    parser.add_argument("--out", default=None, help="PNG path (default RUN_DIR/reward_entropy.png)")
    parser.add_argument("--title", default=None)
    args = parser.parse_args(argv)
    plot_run(args.run_dir, args.out or Path(args.run_dir) / "reward_entropy.png", args.title)


if __name__ == "__main__":
    main()
