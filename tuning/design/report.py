"""``design.md`` and ``design.html``: model, margins, gains and predicted vs simulated, from a design summary."""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from typing import Any

__all__ = ["jsonable", "report_markdown", "write_report"]


def jsonable(value: Any) -> Any:
    """``value`` with non-finite floats as ``None`` (strict JSON), complex numbers as ``[re, im]``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, complex):
        return [jsonable(value.real), jsonable(value.imag)]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def _f(value: Any, digits: int = 4) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "inf" if math.isinf(value) else f"{value:.{digits}g}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_f(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def report_markdown(summary: dict[str, Any]) -> str:
    """The Markdown report of a design summary (the dict ``entropic-design`` writes to ``summary.json``)."""
    d, op, ident = summary["design"], summary["operating_point"], summary["identification"]
    out = [f"# Entropy-loop design: {d['rule'].upper()} PI on `{d['actuator']}`", "",
           f"Backend `{summary['backend']}`, objective `{summary['objective']}`, sensor `{d['sensor']}`, "
           f"target {d['target']:g} nats, tau_c = {d['tau_c']:g} steps.", "",
           summary["convention"], "", "## Operating point", "",
           f"Knob u0 = {op['knob']:.5g} holds {d['sensor']} at {op['target']:g} "
           + ("(given)." if not op["grid"] else "(interpolated from constant-knob runs):"), ""]
    if op["grid"]:
        out += [_table(["knob", "level"], [list(p) for p in sorted(zip(op["grid"], op["levels"], strict=True))]), ""]
    out += ["## Identification", "",
            f"Open loop around u0: warm-up {d['excitation']['warmup']} steps, then "
            f"{d['excitation']['steps']} steps of PRBS (period {d['excitation']['period']}) / steps of amplitude "
            f"{d['excitation']['amplitudes']}. Models are fitted by least squares on the training runs and scored "
            f"by the free-run NRMSE (||y - y_sim|| / ||y - mean y||) on held-out runs: {ident['held_out_labels']}.", "",
            _table(["model", "nk", "A (a1..)", "B (b0..)", "c", "params", "fit NRMSE", "held-out NRMSE"],
                   [[kind, m["nk"], _vec(m["a"]), _vec(m["b"]), m["c"], _params(m["params"]), m["fit_nrmse"],
                     ident["scores"][kind]] for kind, m in ident["models"].items()]), "",
            "Held-out NRMSE by excitation: " + "; ".join(
                f"{kind} " + ", ".join(f"{signal} {value:.3f}" for signal, value in signals.items())
                for kind, signals in ident.get("scores_by_signal", {}).items()) + ".", "",
            f"Best: **{ident['best']}** (held-out NRMSE {ident['scores'][ident['best']]:.3f}), "
            f"`P(z) = {summary['plant_tf']}` from effort to sensor.", "",
            "![identification](identification.png)", "", "## Tuning", "",
            f"Continuous model for the rules: {summary['process_model_text']}.", "",
            _table(["rule", "Kc", "tauI", "tauD", "kp", "ki", "kd", "GM", "PM (deg)", "Ms", "rise", "settling",
                    "overshoot %", "|pole| max"],
                   [_rule_row(rule, r) for rule, r in summary["rules"].items()]), "",
            f"Chosen: **{d['rule']}**. Closed-loop poles: {summary['rules'][d['rule']].get('poles', [])}.", "",
            "![bode](bode.png) ![step](step.png)", "", "## Controller config", "",
            f"`{summary['files']['controller']}`. Train with it: `{summary['usage']}`; warm-start a search: "
            f"`{summary['warm_start']}`.", "", "```yaml",
            summary["controller_yaml"].rstrip(), "```", ""]
    validation = summary.get("validation") or {}
    if "tracking" in validation:
        t = validation["tracking"]
        out += ["## Validation on the backend", "",
                f"Tracking, {t['steps']} steps: **{t['seeds_in_band']}/{t['seeds']} seeds** within +-{t['band']:.0%} "
                f"of {t['target']:g} from step {t['from_step']} on; uncontrolled final {d['sensor']}: "
                f"{[round(v, 3) for v in t['baseline_final']]}.", "",
                _table(["seed", "in band", "max |y - target| / target", "final knob"],
                       [[i, b, m, k] for i, (b, m, k) in
                        enumerate(zip(t["in_band"], t["max_relative_deviation"], t["final_knob"], strict=True))]), ""]
    if "step" in validation:
        s = validation["step"]
        keys = ("RiseTime", "SettlingTime", "Overshoot")
        out += [f"Setpoint step {s['target']:g} -> {s['target'] + s['size']:g} at step {s['at']}: prediction RMSE "
                f"{s['rmse']:.4f} nats ({s['relative_rmse']:.1%} of the step).", "",
                _table(["", *keys], [["predicted", *(s["predicted"][k] for k in keys)],
                                     ["measured (mean of seeds)", *(s["measured"][k] for k in keys)],
                                     ["measured / predicted", *(s["measured_over_predicted"].get(k, "-")
                                                                for k in keys)]]), ""]
    if validation:
        out += ["![validation](validation.png)", ""]
    if "wall_time_s" in summary:
        out += [f"Wall time of the whole design: {summary['wall_time_s']:.0f} s.", ""]
    return "\n".join(out)


def _vec(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"


def _params(params: dict[str, float]) -> str:
    return ", ".join(f"{k} {_f(v)}" for k, v in params.items() if k != "offset")


def _rule_row(rule: str, r: dict[str, Any]) -> list[Any]:
    if "error" in r:
        return [rule, r["error"], *["-"] * 12]
    s, g, m, i = r["settings"], r["gains"], r["margins"], r["step_info"]
    return [rule, s["kc"], s["tau_i"], s["tau_d"], g["kp"], g["ki"], g["kd"], m["gm"], m["pm"], 1 / m["sm"],
            i.get("RiseTime", "-"), i.get("SettlingTime", "-"), i.get("Overshoot", "-"),
            max((abs(complex(p)) for p in r["poles"]), default=math.nan)]


def _html(markdown: str) -> str:
    """HTML of the Markdown subset :func:`report_markdown` writes (headings, tables, code, images)."""
    body, lines, i = [], markdown.splitlines(), 0
    inline = [(r"!\[([^\]]*)\]\(([^)]+)\)", r'<img alt="\1" src="\2" style="max-width:100%">'),
              (r"\*\*([^*]+)\*\*", r"<b>\1</b>"), (r"`([^`]+)`", r"<code>\1</code>")]

    def fmt(text: str) -> str:
        text = html.escape(text, quote=False)
        for pattern, repl in inline:
            text = re.sub(pattern, repl, text)
        return text

    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            block = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                block.append(html.escape(lines[i]))
                i += 1
            body.append("<pre>" + "\n".join(block) + "</pre>")
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{fmt(line[level:].strip())}</h{level}>")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if not set(lines[i]) <= set("|-"):
                    rows.append([fmt(c.strip()) for c in lines[i].strip("|").split("|")])
                i += 1
            head = "".join(f"<th>{c}</th>" for c in rows[0])
            rest = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows[1:])
            body.append(f"<table><tr>{head}</tr>{rest}</table>")
            continue
        elif line.strip():
            body.append(f"<p>{fmt(line)}</p>")
        i += 1
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}pre{background:#f5f5f5;padding:8px}")
    return f"<!doctype html><html><head><meta charset='utf-8'><style>{style}</style></head><body>" \
           + "\n".join(body) + "</body></html>\n"


def write_report(output_dir: str | Path, summary: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``summary.json``, ``design.md`` and ``design.html`` into ``output_dir``; returns the two reports."""
    output_dir = Path(output_dir)
    (output_dir / "summary.json").write_text(json.dumps(jsonable(summary), indent=2))
    markdown = report_markdown(summary)
    md, page = output_dir / "design.md", output_dir / "design.html"
    md.write_text(markdown)
    page.write_text(_html(markdown))
    return md, page
