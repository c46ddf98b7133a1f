"""``design.md`` and ``design.html``: model, margins, gains and predicted vs simulated, from a design summary."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from entropic.tuning.report import html_page, markdown_html

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
    """A Markdown table; a ``|`` in a cell is escaped (it would end the cell)."""
    def cells(values: list[Any]) -> str:
        return "| " + " | ".join(_f(v).replace("|", "\\|") for v in values) + " |"

    return "\n".join([cells(header), "|" + "---|" * len(header), *map(cells, rows)])


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
    if op.get("runaway") is not None:
        out += [f"**Runaway** at knob {op['runaway']:.4g}: the level reaches "
                f"{d['operating_point']['runaway']:g} of the maximum entropy there. The knob limits stop at it "
                f"({_vec(d['limits'])}) and the excitation amplitudes shrink to {_vec(d['excitation']['amplitudes'])} "
                "so that neither identification nor control crosses it.", ""]
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


def write_report(output_dir: str | Path, summary: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``summary.json``, ``design.md`` and ``design.html`` into ``output_dir``; returns the two reports."""
    output_dir = Path(output_dir)
    (output_dir / "summary.json").write_text(json.dumps(jsonable(summary), indent=2))
    markdown = report_markdown(summary)
    md, page = output_dir / "design.md", output_dir / "design.html"
    md.write_text(markdown)
    d = summary["design"]
    page.write_text(html_page(f"Entropy-loop design: {d['rule'].upper()} PI on {d['actuator']}",
                              markdown_html(markdown)))
    return md, page
