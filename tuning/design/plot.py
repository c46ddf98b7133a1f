"""PNG figures of a design (matplotlib, Agg backend): identification, Bode, step responses, validation.

Each ``*_plot`` function draws one figure, saves it to ``path`` and returns the path.
"""

from __future__ import annotations

from pathlib import Path

import control as ct
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from entropic.tuning.design.loop_model import LoopAnalysis  # noqa: E402
from entropic.tuning.design.validate import StepTest, Tracking  # noqa: E402
from entropic.tuning.figures import save_figure  # noqa: E402
from entropic.tuning.sysid.experiment import ExcitationData, OperatingPoint  # noqa: E402
from entropic.tuning.sysid.models import Identification  # noqa: E402

__all__ = ["bode_plot", "identification_plot", "step_plot", "validation_plot"]


def identification_plot(point: OperatingPoint, data: ExcitationData, ident: Identification, path: str | Path,
                        sensor: str = "entropy/mean", max_runs: int = 4) -> Path:
    """Operating-point search and free-run predictions of every model on the held-out runs."""
    du, y = data.window(held_out=True)
    labels = [label for label, held in zip(data.labels, data.held_out, strict=True) if held]
    shown = min(max_runs, y.shape[1])
    fig, axes = plt.subplots(1, shown + 1, figsize=(3.6 * (shown + 1), 3.4))
    ax = axes[0]
    if point.grid:
        order = np.argsort(point.grid)
        ax.plot(np.asarray(point.grid)[order], np.asarray(point.levels)[order], "o-", color="0.3")
        ax.set_xscale("log" if min(point.grid) > 0 else "linear")
    ax.axhline(point.target, color="C3", ls="--", lw=1, label=f"target {point.target:g}")
    ax.axvline(point.knob, color="C0", lw=1, label=f"u0 = {point.knob:.4g}")
    if point.runaway is not None:
        edge = max(point.grid) if point.direction > 0 else min(point.grid)
        ax.axvspan(*sorted((point.runaway, edge)), color="C3", alpha=0.12, label=f"runaway past {point.runaway:.4g}")
    ax.set(xlabel="knob (constant)", ylabel=sensor, title="operating point")
    ax.legend(fontsize=8)
    time = np.arange(y.shape[0]) + data.warmup
    for i, ax in enumerate(axes[1:]):
        ax.plot(time, y[:, i], color="k", lw=1.2, label="measured")
        for j, (kind, model) in enumerate(ident.models.items()):
            simulated = model.simulate(du[:, i], y[: max(len(model.a), 1), i])
            best = kind == ident.best
            ax.plot(time, simulated, color=f"C{j}", lw=2.0 if best else 1.0, ls="-" if best else "--",
                    label=f"{kind} ({ident.per_run[kind][i]:.2f})")
        ax.set(xlabel="optimizer step", title=f"held out: {labels[i]}")
        ax.legend(fontsize=7, title="model (NRMSE)", title_fontsize=7)
    return save_figure(fig, path)


def bode_plot(analysis: LoopAnalysis, path: str | Path) -> Path:
    """Magnitude and phase of the loop ``L = C P`` up to the Nyquist frequency, margins marked."""
    omega = np.geomspace(1e-4, np.pi, 600)
    response = ct.frequency_response(analysis.loop, omega)
    magnitude = 20 * np.log10(np.squeeze(response.magnitude))
    phase = np.degrees(np.unwrap(np.squeeze(response.phase)))
    m = analysis.margins
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 5.6), sharex=True)
    top.semilogx(omega, magnitude, color="C0")
    top.axhline(0.0, color="0.5", lw=0.8)
    top.set(ylabel="|L| (dB)", title=f"loop L = C P: GM {m.gm:.3g}, PM {m.pm:.1f} deg, Ms {1 / m.sm:.2f}")
    bottom.semilogx(omega, phase, color="C0")
    bottom.axhline(-180.0, color="0.5", lw=0.8)
    for ax, value in ((top, m.wgc), (bottom, m.wgc), (top, m.wpc), (bottom, m.wpc)):
        if np.isfinite(value):
            ax.axvline(value, color="C3", ls=":", lw=1)
    bottom.set(xlabel="frequency (rad / optimizer step)", ylabel="phase (deg)")
    return save_figure(fig, path)


def step_plot(analyses: dict[str, LoopAnalysis], path: str | Path, chosen: str = "") -> Path:
    """Predicted unit setpoint-step responses (sensor and effort) of each rule's loop."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 5.6), sharex=True)
    for j, (rule, analysis) in enumerate(analyses.items()):
        info = analysis.step_info
        label = (f"{rule}: rise {info.get('RiseTime', np.nan):.0f}, settle {info.get('SettlingTime', np.nan):.0f}, "
                 f"overshoot {info.get('Overshoot', np.nan):.1f}%") if analysis.stable else f"{rule}: unstable"
        width = 2.0 if rule == chosen else 1.0
        top.plot(analysis.time, analysis.step, color=f"C{j}", lw=width, label=label)
        bottom.plot(analysis.time, analysis.step_effort, color=f"C{j}", lw=width)
    top.axhline(1.0, color="0.5", lw=0.8)
    top.set(ylabel="sensor (per unit step)", title="predicted closed loop (python-control)")
    top.legend(fontsize=8)
    bottom.set(xlabel="optimizer steps after the setpoint step", ylabel="effort (per unit step)")
    if chosen in analyses:  # the chosen rule's range; aggressive rules (Ziegler-Nichols) may leave the axes
        effort = analyses[chosen].step_effort
        span = max(float(np.ptp(effort)), 1e-12)
        bottom.set_ylim(min(0.0, float(effort.min())) - 0.5 * span, float(effort.max()) + 0.5 * span)
    return save_figure(fig, path)


def validation_plot(tracking: Tracking | None, step: StepTest | None, path: str | Path,
                    sensor: str = "entropy/mean") -> Path:
    """Tracking runs against the uncontrolled baseline, and the predicted vs simulated setpoint step."""
    panels = [p for p in (tracking, step) if p is not None]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.2), squeeze=False)
    axes = list(axes[0])
    if tracking is not None:
        ax = axes.pop(0)
        time = np.arange(tracking.y.shape[0])
        target, band = tracking.target, tracking.band
        ax.axhspan(target * (1 - band), target * (1 + band), color="C2", alpha=0.15, label=f"target +-{band:.0%}")
        ax.axvline(tracking.from_step, color="0.5", ls=":", lw=1)
        ax.plot(time, tracking.baseline, color="0.55", lw=0.8)
        ax.plot([], [], color="0.55", label="uncontrolled")
        ax.plot(time, tracking.y, color="C0", lw=0.9)
        ax.plot([], [], color="C0", label=f"designed PI ({tracking.passed}/{tracking.y.shape[1]} seeds in band)")
        ax.set(xlabel="optimizer step", ylabel=sensor, title="closed loop on the backend")
        ax.legend(fontsize=8)
    if step is not None:
        ax = axes.pop(0)
        time = np.arange(step.y.shape[0])
        window = slice(max(step.at - 50, 0), None)
        ax.plot(time[window], step.y[window], color="C0", lw=0.6, alpha=0.5)
        ax.plot(time[step.at:], step.measured, color="C0", lw=2.0, label="simulated (mean of seeds)")
        ax.plot(time[step.at:], step.predicted, color="C3", ls="--", lw=2.0, label="predicted (python-control)")
        ax.step([step.at - 50, step.at, time[-1]], [step.target, step.target + step.size, step.target + step.size],
                where="post", color="0.4", lw=1, label="setpoint")
        pi, mi = step.predicted_info, step.measured_info
        ax.set(xlabel="optimizer step", ylabel=sensor,
               title=(f"setpoint step: overshoot {mi['Overshoot']:.1f}% (pred. {pi['Overshoot']:.1f}%), "
                      f"settling {mi['SettlingTime']:.0f} (pred. {pi['SettlingTime']:.0f})"))
        ax.legend(fontsize=8)
    return save_figure(fig, path)
