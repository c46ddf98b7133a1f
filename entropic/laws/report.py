"""The laws report: ``laws.json`` (everything computed), ``laws.md`` (verdict table, checks, plots) and PNGs.

matplotlib is imported only when plots are drawn, so :mod:`entropic.laws` itself needs torch and
numpy only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from entropic.laws.claims import CLAIMS, ClaimRun


def claim_record(run: ClaimRun) -> dict:
    """The JSON record of one claim: hypothesis, verdict, checks, info, notes, figures (data), time."""
    result = run.result
    return {"name": run.claim.name, "title": run.claim.title, "experiment": run.claim.experiment,
            "hypothesis": run.claim.hypothesis, "verdict": result.verdict,
            "checks": [c.to_dict() for c in result.checks], "info": result.info, "notes": result.notes,
            "arms": {name: {"num_runs": arm.num_runs, "variants": list(arm.arm.variants),
                            "steps": int(arm.config["trainer"]["steps"]) if arm.arm.procedure == "fit" else 1}
                     for name, arm in run.runs.items()},
            "figures": result.figures, "seconds": run.seconds}


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.3g}"


def _statistic(check: dict) -> str:
    low, high = check["ci"]
    return f"{_number(check['mean'])} [{_number(low)}, {_number(high)}]"


def verdict_table(records: Sequence[dict]) -> str:
    """Markdown table: claim, verdict, and each check's mean and 95% CI over seeds against its threshold."""
    lines = ["| # | claim | verdict | checks: mean [95% CI] vs claim |", "|---|---|---|---|"]
    for number, record in enumerate(records, 1):
        parts = []
        for check in record["checks"]:
            if check["outcome"] == "pending":
                parts.append(f"{check['name']}: pending")
            else:
                parts.append(f"{check['name']}: {_statistic(check)} {check['claim']} ({check['outcome']})")
        lines.append(f"| {number} | {record['title']} | **{record['verdict']}** | {'<br>'.join(parts)} |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Text for a Markdown table cell (a ``|`` would end the cell)."""
    return text.replace("|", "\\|")


def write_report(runs: Sequence[ClaimRun], output_dir: str | Path, command: str, quick: bool,
                 plots: bool = True, wall_seconds: float | None = None) -> Path:
    """Write ``laws.json``, ``laws.md`` and ``plots/*.png`` under ``output_dir``; returns the Markdown path.

    ``wall_seconds`` is the time the whole command took (claims may run in parallel); default the sum
    of the claims' times. Claims already reported in ``output_dir`` are kept (:func:`merged_records`).
    """
    records, command = merged_records([claim_record(run) for run in runs], output_dir, command, quick)
    return write_records(records, output_dir, command, quick, plots, wall_seconds)


def merged_records(records: Sequence[dict], output_dir: str | Path, command: str, quick: bool
                   ) -> tuple[list[dict], str]:
    """``records`` with the other claims of an earlier ``laws.json`` in ``output_dir``, and the commands behind them.

    A claim run again replaces its earlier record; the others stay, in claim order. Results of the other
    mode (quick vs full) are refused rather than mixed: ``ValueError`` naming the directory.
    """
    path = Path(output_dir) / "laws.json"
    if not path.exists():
        return list(records), command
    earlier = json.loads(path.read_text())
    if earlier.get("quick") != quick:
        raise ValueError(f"{output_dir} holds {'quick' if earlier.get('quick') else 'full'}-mode results; "
                         f"{'quick' if quick else 'full'}-mode ones would be mixed with them: choose another --out")
    fresh = {record["name"] for record in records}
    kept = [record for record in earlier.get("claims", []) if record["name"] not in fresh]
    order = {claim.name: index for index, claim in enumerate(CLAIMS)}
    merged = sorted([*kept, *records], key=lambda record: order.get(record["name"], len(order)))
    commands = earlier.get("command", "")
    return merged, command if not kept else f"{commands}; {command}"


def write_records(records: Sequence[dict], output_dir: str | Path, command: str, quick: bool, plots: bool = True,
                  wall_seconds: float | None = None) -> Path:
    """:func:`write_report` from claim records (:func:`claim_record`, or the ``claims`` of a ``laws.json``)."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    total = sum(r["seconds"] for r in records) if wall_seconds is None else wall_seconds
    (output_dir / "laws.json").write_text(json.dumps(
        {"command": command, "quick": quick, "wall_seconds": total, "claims": records}, indent=1))
    images: dict[str, list[str]] = {}
    if plots:
        from entropic.laws.plots import draw

        plot_dir = output_dir / "plots"
        plot_dir.mkdir(exist_ok=True)
        for record in records:
            images[record["name"]] = [draw(figure, plot_dir).relative_to(output_dir).as_posix()
                                      for figure in record["figures"]]
    lines = ["# Entropy laws and published claims", "",
             f"Made by `{command}` ({'quick' if quick else 'full'} mode, {total:.0f} s wall time). Each statistic is "
             "computed per seed; a check passes when its whole 95% t interval over seeds lies on the claimed side "
             "of the threshold, fails when it lies wholly on the other side. A claim holds when every check passes, "
             "does not hold when none passes and one fails, and holds partly otherwise.", "",
             verdict_table(records), ""]
    for number, record in enumerate(records, 1):
        lines += [f"## {number}. {record['title']} - {record['verdict']}", ""]
        if record["experiment"]:
            lines += [f"Config: `configs/experiment/{record['experiment']}.yaml`. Hypothesis: {record['hypothesis']}",
                      ""]
        lines += ["| check | statistic | mean [95% CI] | claim | outcome |", "|---|---|---|---|---|"]
        for check in record["checks"]:
            note = f" ({check['note']})" if check.get("note") else ""
            lines.append(f"| {check['name']} | {_cell(check['statistic'])} | {_statistic(check)} | {check['claim']} | "
                         f"{check['outcome']}{_cell(note)} |")
        lines.append("")
        lines += [f"- {note}" for note in record["notes"]]
        lines += [""] + [f"![{Path(path).stem}]({path})" for path in images.get(record["name"], [])] + [""]
    path = output_dir / "laws.md"
    path.write_text("\n".join(lines))
    return path
