"""``transfer.md`` and its plots from a ladder summary (:func:`entropic.tuning.transfer.ladder.run_ladder`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _mean(values: list[float] | None) -> float:
    return float(np.mean(values)) if values else math.nan


def _fmt(value: float, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def goal(rung: dict[str, Any]) -> dict[str, float] | None:
    """The transferred controller against the one tuned on the rung: tracking-error and cost ratios."""
    scores, costs = rung["scores"], rung["costs"]
    if "transferred" not in scores or "tuned" not in scores:
        return None
    error = _mean(scores["transferred"]["values"].get("tracking_error"))
    tuned = _mean(scores["tuned"]["values"].get("tracking_error"))
    return {"error_ratio": error / tuned, "cost_ratio": costs["transferred"] / costs["tuned"]}


def _plant(model: dict[str, Any]) -> str:
    """The identified process model in words (an integrating plant's time constant is null in JSON)."""
    if model.get("integrating"):
        return f"integrating, {model['gain']:.4g} nats per step per unit knob, dead time {model['theta']:.3g} steps"
    return (f"first order, gain {model['gain']:.4g} nats per unit knob, time constant {model['tau1']:.4g} steps, "
            f"dead time {model['theta']:.3g} steps")


def _identification(rung: dict[str, Any]) -> str:
    """The rung's operating point and identified plant in words, or why its identification failed."""
    if rung.get("identification_error"):
        return (f"Identification failed ({rung['identification_error']}): no transferred or designed controller "
                "on this rung.")
    op = rung["operating_point"]
    return (f"Operating point: knob {op['knob']:.4g}; identified plant {_plant(rung['process_model'])} "
            f"(held-out NRMSE {rung['identification_nrmse']:.3g})."
            + (f" Runaway at knob {op['runaway']:.4g}: the design's limits and the excitation stop there."
               if op.get("runaway") is not None else ""))


def rung_table(rung: dict[str, Any]) -> str:
    """One row per candidate: mean over the held-out seeds of every target, and its cost."""
    targets = rung["targets"]
    header = ["controller", *(f"{t} (nats)" if t == "tracking_error" else t for t in targets), "error / noise floor",
              "CPU s to obtain"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, score in rung["scores"].items():
        if score["error"]:
            lines.append(f"| {name} | failed: {score['error']} |" + " |" * (len(header) - 2))
            continue
        means = [_mean(score["values"].get(t)) for t in targets]
        tracking = means[targets.index("tracking_error")]
        ratio = tracking / rung["noise_floor"] if rung["noise_floor"] else math.nan  # the bandit's batch: no noise
        lines.append("| " + " | ".join([name, *(_fmt(m) for m in means), _fmt(ratio, 2), _fmt(rung["costs"][name], 3)])
                     + " |")
    return "\n".join(lines)


def plot_entropy(summary: dict[str, Any], path: Path) -> Path:
    """Mean entropy over the held-out seeds of every candidate, one panel per rung, setpoint and noise band."""
    rungs = summary["rungs"]
    fig, axes = plt.subplots(1, len(rungs), figsize=(4.8 * len(rungs), 3.4), squeeze=False)
    for ax, rung in zip(axes[0], rungs, strict=True):
        band = rung["noise_floor"]
        ax.axhspan(rung["setpoint"] - band, rung["setpoint"] + band, color="0.85", label="setpoint +- noise floor")
        for name, score in rung["scores"].items():
            if score["entropy"]:
                ax.plot(score["entropy"], lw=1.2, label=name)
        ax.set(title=f"{rung['name']} ({rung['setpoint']:.3g} nats)", xlabel="step", ylabel="entropy/mean (nats)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(summary: dict[str, Any], output_dir: str | Path, command: str) -> Path:
    """Write ``transfer.md`` and ``entropy.png`` into ``output_dir``; returns the Markdown path."""
    out = Path(output_dir)
    plot = plot_entropy(summary, out / "entropy.png")
    source = summary["rungs"][0]
    lines = ["# Transfer ladder", "",
             f"`{command}`", "",
             f"Source: {source['name']} at {source['setpoint']:.3g} nats; its controller cost "
             f"{_fmt(summary['source_cost_s'])} CPU s to tune. Every controller runs on {summary['heldout_seeds']} "
             "held-out seeds. Tracking error: mean |entropy - setpoint| over the second half, averaged over seeds; "
             "noise floor: the spread of the batch entropy at the initial policy, no update (a loop at the floor "
             "tracks within about 0.8 of it). CPU s to obtain: the source's study for copied gains, plus both "
             "identifications for transferred ones; the rung's identification for its design; the rung's study "
             "for the tuned one; the published defaults cost nothing.", "",
             f"![entropy]({plot.name})", ""]
    for rung in summary["rungs"]:
        lines += [f"## {rung['name']} (`backend={rung['backend']}`)", "",
                  f"Setpoint {rung['setpoint']:.4g} nats; initial entropy {rung['initial_entropy']:.4g}; noise floor "
                  f"{rung['noise_floor']:.3g} nats. " + _identification(rung), ""]
        if rung["mapping"]:
            m = rung["mapping"]
            lines += [f"Transfer ({m['rule']} rule): gain ratio {m['gain_ratio']:.4g}, time ratio "
                      f"{m['time_ratio']:.4g}; kp {_fmt(m['source_gains']['kp'], 4)} -> {_fmt(m['gains']['kp'], 4)}, "
                      f"ki {_fmt(m['source_gains']['ki'], 4)} -> {_fmt(m['gains']['ki'], 4)}.", ""]
        lines += [rung_table(rung), ""]
        ratio = goal(rung)
        if ratio is not None:
            lines += [f"Transferred vs tuned on this rung: tracking error x{ratio['error_ratio']:.2f} at "
                      f"{100 * ratio['cost_ratio']:.0f}% of the cost (goal: within x1.10 at <= 10%).", ""]
    path = out / "transfer.md"
    path.write_text("\n".join(lines))
    return path
