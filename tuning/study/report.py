"""A study's report: Markdown with PNG plots (matplotlib), written beside the study.

``report.md`` shows the best trial against the published defaults on held-out seeds, the
optimisation history, the parameter importances, the Pareto front (several targets), the
entropy and reward trajectories of the best trial and the defaults, the failures and how to
open the study in optuna-dashboard.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from optuna.trial import FrozenTrial, TrialState  # noqa: E402

from entropic.tuning.figures import save_figure  # noqa: E402
from entropic.tuning.study.targets import MethodScore, Target  # noqa: E402

log = logging.getLogger(__name__)


def _label(trial: FrozenTrial) -> str:
    return trial.user_attrs.get("baseline") or f"trial {trial.number}"


def plot_history(study: optuna.Study, targets: list[Target], path: Path) -> Path:
    """Value of every completed trial (first target) and the best so far; defaults marked."""
    target = targets[0]
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    fig, ax = plt.subplots(figsize=(7, 4))
    sampled = [t for t in trials if "baseline" not in t.user_attrs]
    ax.scatter([t.number for t in sampled], [t.values[0] for t in sampled], s=12, color="tab:blue",
               label="sampled trial")
    best, best_x, best_y = None, [], []
    better = max if target.direction == "maximize" else min
    for t in sorted(trials, key=lambda t: t.number):
        best = t.values[0] if best is None else better(best, t.values[0])
        best_x.append(t.number)
        best_y.append(best)
    ax.step(best_x, best_y, where="post", color="tab:red", label="best so far")
    for i, t in enumerate(t for t in trials if "baseline" in t.user_attrs):
        ax.axhline(t.values[0], color=f"C{i + 2}", linestyle="--", linewidth=1, label=f"{_label(t)} (default)")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{target.name} ({target.direction})")
    ax.set_title("Optimisation history (tuning seeds)")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def param_importances(study: optuna.Study) -> dict[str, float]:
    """PED-ANOVA importances over the sampled trials of the most common parameter set (first target)."""
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.params]
    if not trials:
        return {}
    keys, _ = Counter(tuple(sorted(t.params)) for t in trials).most_common(1)[0]
    trials = [t for t in trials if tuple(sorted(t.params)) == keys]
    if len(trials) < 4:
        return {}
    sub = optuna.create_study(directions=study.directions)
    sub.add_trials(trials)
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "importances to achieve low target": the sign says so
            return optuna.importance.get_param_importances(sub, target=lambda t: sign * t.values[0])
    except (ValueError, RuntimeError) as error:
        log.warning("parameter importances unavailable: %s", error)
        return {}


def plot_importances(importances: dict[str, float], path: Path) -> Path:
    """Horizontal bars of the parameter importances."""
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.4 * len(importances)))
    names = list(importances)[::-1]
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    ax.set_xlabel("importance (PED-ANOVA, first target)")
    ax.set_title("Parameter importances")
    return save_figure(fig, path)


def plot_pareto(study: optuna.Study, targets: list[Target], path: Path) -> Path:
    """First two targets of every completed trial; the Pareto front and the defaults highlighted."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    front = {t.number for t in study.best_trials}
    fig, ax = plt.subplots(figsize=(6, 5))
    rest = [t for t in trials if t.number not in front and "baseline" not in t.user_attrs]
    ax.scatter([t.values[0] for t in rest], [t.values[1] for t in rest], s=10, color="lightgray", label="trial")
    pareto = sorted((t for t in trials if t.number in front), key=lambda t: t.values[0])
    ax.plot([t.values[0] for t in pareto], [t.values[1] for t in pareto], "o-", color="tab:red", markersize=4,
            label="Pareto front")
    for i, t in enumerate(t for t in trials if "baseline" in t.user_attrs):
        ax.scatter([t.values[0]], [t.values[1]], marker="*", s=120, color=f"C{i + 2}", label=_label(t))
    ax.set_xlabel(f"{targets[0].name} ({targets[0].direction})")
    ax.set_ylabel(f"{targets[1].name} ({targets[1].direction})")
    ax.set_title("Pareto front (tuning seeds)")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_trajectories(scores: dict[str, MethodScore], path: Path, target: float | None) -> Path:
    """Mean entropy and reward per step on the held-out seeds: the best trial against the defaults."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for i, (name, score) in enumerate(scores.items()):
        style = {"color": "black", "linewidth": 2} if name == "best" else {"color": f"C{i}", "linewidth": 1}
        top.plot(score.entropy, label=name, **style)
        bottom.plot(score.reward, label=name, **style)
    if target is not None:
        top.axhline(target, color="gray", linestyle=":", label="target entropy")
    top.set_ylabel("entropy/mean (nats)")
    bottom.set_ylabel("reward/mean")
    bottom.set_xlabel("step")
    top.set_title("Best trial vs defaults, held-out seeds (mean over seeds)")
    top.legend(fontsize=7)
    return save_figure(fig, path)


def _fmt(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4g}"


def write_report(study: optuna.Study, targets: list[Target], heldout: dict[str, MethodScore],
                 summary: dict[str, Any], output_dir: str | Path, target_entropy: float | None = None) -> Path:
    """Write ``report.md`` and its PNGs into ``output_dir``; returns the report's path."""
    output_dir = Path(output_dir)
    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name for t in trials)
    lines = [f"# Study `{study.study_name}`", ""]
    lines += ["- targets: " + ", ".join(f"`{target.name}` ({target.direction})" for target in targets),
              f"- trials: {len(trials)} (" + ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) + ")",
              f"- tuning seeds: {summary.get('seeds')}; each trial's value is the mean over them",
              f"- storage: `{summary.get('storage')}`",
              f"- open it: `pip install optuna-dashboard && optuna-dashboard {summary.get('storage')}`", ""]
    best = [t for t in trials if t.number in {b["number"] for b in summary.get("best", [])}]
    if best:
        top = best[0]
        lines += ["## Best trial" if len(best) == 1 else f"## Pareto front ({len(best)} trials; first one exported)",
                  ""]
        lines += ["| trial | " + " | ".join(target.name for target in targets) + " | params |",
                  "|---|" + "---|" * len(targets) + "---|"]
        for t in best:
            params = ", ".join(f"{k}={_fmt(v) if isinstance(v, float) else v}" for k, v in t.params.items())
            lines.append(f"| {_label(t)} | " + " | ".join(_fmt(v) for v in t.values) + f" | {params or '-'} |")
        lines.append("")
        export = summary.get("export")
        if export:
            lines += [f"Exported trial {top.number} as ready configs:", ""]
            lines += [f"- `{path}`" for path in export["files"].values()]
            lines += ["", "Run it:", "", "```bash", *export["commands"], "```", ""]
    if heldout:
        seeds = summary.get("heldout", {}).get("seeds")
        lines += [f"## Held-out seeds {seeds}: best trial vs defaults", "",
                  "| method | " + " | ".join(f"{target.name} ({target.direction[:3]})" for target in targets) + " |",
                  "|---|" + "---|" * len(targets)]
        for name, score in heldout.items():
            cells = ["failed" if score.error else f"{_fmt(score.mean(target.name))} ± {_fmt(score.std(target.name))}"
                     for target in targets]
            lines.append(f"| {'**best**' if name == 'best' else name} | " + " | ".join(cells) + " |")
        lines.append("")
        lines += _improvement(heldout, targets)
        traj = plot_trajectories(heldout, output_dir / "trajectories.png", target_entropy)
        lines += [f"![trajectories]({traj.name})", ""]
    lines += ["## Optimisation", ""]
    if counts.get("COMPLETE"):
        lines += [f"![history]({plot_history(study, targets, output_dir / 'history.png').name})", ""]
    importances = param_importances(study)
    if importances:
        lines += [f"![importances]({plot_importances(importances, output_dir / 'importances.png').name})", ""]
    if len(targets) > 1 and counts.get("COMPLETE"):
        lines += [f"![pareto]({plot_pareto(study, targets, output_dir / 'pareto.png').name})", ""]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    if failed:
        reasons = Counter(str(t.user_attrs.get("fail_reason", "unknown")).split(":")[0] for t in failed)
        lines += ["## Failed trials", ""] + [f"- {n} x {reason}" for reason, n in reasons.most_common()]
        lines += ["", "Each failed trial keeps its `fail_reason` attribute in the study.", ""]
    path = output_dir / "report.md"
    path.write_text("\n".join(lines))
    return path


def _improvement(heldout: dict[str, MethodScore], targets: list[Target]) -> list[str]:
    """One sentence per target: the best trial against the best default, on the held-out seeds."""
    lines = []
    best = heldout.get("best")
    defaults = {k: v for k, v in heldout.items() if k != "best" and not v.error}
    if best is None or best.error or not defaults:
        return lines
    for target in targets:
        sign = 1 if target.direction == "maximize" else -1
        name, score = max(defaults.items(), key=lambda item: sign * item[1].mean(target.name))
        delta = best.mean(target.name) - score.mean(target.name)
        verdict = "beats" if sign * delta > 0 else "does not beat"
        lines.append(f"- `{target.name}`: the best trial {verdict} the best default "
                     f"({name}, {_fmt(score.mean(target.name))}) by {_fmt(delta)} ({_fmt(best.mean(target.name))}).")
    return lines + [""]
