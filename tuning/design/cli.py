"""``entropic-design``: identify the entropy loop, tune a PI analytically, validate it, write a report.

Examples::

    entropic-design                                   # default bandit, entropy bonus, target 1.5 nats
    entropic-design design.target=1.0 design.tau_c=40 design.rule=imc
    entropic-design design.operating_point.knob=0.38 design.validation.seeds=0   # skip search and validation

The output directory (Hydra's run directory, printed last) holds ``model.json`` (the identified
models), ``controller/designed.yaml`` (a ``configs/controller/`` file: ``entropic-train --config-dir <dir>
controller=designed``; ``entropic-tune tune.warm_start.design=[<dir>/controller/designed.yaml]``),
``summary.json``, PNG plots and ``design.md`` / ``design.html``; the experiments' own
``config.yaml`` and ``metrics.jsonl`` files are under ``runs/``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import control as ct
import hydra
import numpy as np
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from entropic.cli import help as _help  # noqa: F401  (registers the help templates' resolver)
from entropic.controllers import ACTUATORS, controller_config_from_dict
from entropic.experiment import check_entropy_target, validate
from entropic.tuning.design.config import RULES, DesignConfig, DesignRunConfig
from entropic.tuning.design.loop_model import LoopAnalysis, loop_analysis
from entropic.tuning.design.plot import bode_plot, identification_plot, step_plot, validation_plot
from entropic.tuning.design.report import jsonable, write_report
from entropic.tuning.design.rules import (
    ProcessModel,
    controller_config,
    plant_in_effort_units,
    process_model,
    rule_settings,
    write_controller_config,
)
from entropic.tuning.design.validate import step_test_response, tracking_response
from entropic.tuning.sysid.experiment import excitation_response, operating_point
from entropic.tuning.sysid.models import DiscreteModel, Identification, identify

__all__ = ["main", "run_design"]

log = logging.getLogger(__name__)

CONVENTION = ("Sample time: one optimizer step. y_k is the sensor on step k's batch before its update, u_k the knob "
              "of that update, so u_k shows in y_(k+1) at the earliest (nk >= 1; dead time = nk - 1). The PI law acts "
              "on the same step's reading: u_k = kp e_k + I_k, I_(k+1) = I_k + ki e_k. The rules see the effective "
              "delay dead time + 1/2 step (zero-order hold).")


def _validated(cfg: DictConfig) -> DesignConfig:
    """The design section; the whole config (unknown keys, base control included) checked, naming a bad field."""
    return validate(cfg, DesignRunConfig).design


def _rule_summary(settings: Any, analysis: LoopAnalysis) -> dict[str, Any]:
    m = analysis.margins
    return {"settings": {"kc": settings.kc, "tau_i": settings.tau_i, "tau_d": settings.tau_d, "form": settings.form},
            "gains": settings.discrete_gains(), "stable": analysis.stable,
            "poles": [complex(p) for p in analysis.poles],
            "margins": {"gm": m.gm, "pm": m.pm, "sm": m.sm, "wpc": m.wpc, "wgc": m.wgc},
            "step_info": analysis.step_info}


def run_design(cfg: DictConfig, output_dir: str | Path) -> dict[str, Any]:
    """Run the whole design in ``output_dir``; returns the summary (also written to ``summary.json``).

    Parameters
    ----------
    cfg : DictConfig
        A composed ``configs/design/default.yaml`` (with overrides).
    output_dir : str or Path
        Where every file goes.

    Returns
    -------
    dict
        Operating point, identification, tuning of every rule, validation, file paths.
    """
    started = time.perf_counter()
    design = _validated(cfg)
    max_entropy = None
    if design.sensor.startswith("entropy/"):  # an unreachable target is refused before any experiment
        try:
            backend = instantiate(cfg.backend, num_runs=1)
        except InstantiationException as error:  # the backend's own error names its field
            raise (error.__cause__ if isinstance(error.__cause__, ValueError) else error) from None
        max_entropy = getattr(backend, "max_entropy", None)
        check_entropy_target("design.target", design.target, max_entropy)
        del backend
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = out / "runs"
    direction = ACTUATORS.get(design.actuator).direction

    # 1. identification around the operating point
    point = operating_point(cfg, design, runs, max_entropy)
    limits, amplitude = point.respect_runaway(design.limits, max(design.excitation.amplitudes))
    if point.runaway is not None:  # limits below the runaway, excitation sized to stay clear of it
        scale = amplitude / max(design.excitation.amplitudes)
        design = dataclasses.replace(design, limits=limits, excitation=dataclasses.replace(
            design.excitation, amplitudes=[a * scale for a in design.excitation.amplitudes]))
        log.warning("runaway past knob %.4g: limits %s, excitation amplitudes %s", point.runaway, limits,
                    design.excitation.amplitudes)
    data = excitation_response(cfg, design, point.knob, runs)
    ident = identify(data.window(held_out=False), data.window(held_out=True), tuple(design.models.kinds),
                     orders=tuple(design.models.arx_orders), max_dead_time=design.models.max_dead_time)
    plant = plant_in_effort_units(ident.model, direction)
    process = process_model(plant)
    log.info("identified %s: %s (held-out NRMSE %.3f)", ident.best, ident.model, ident.scores[ident.best])

    # 2.-3. every rule analysed in python-control; the chosen one written as a controller config
    rules, analyses = _tune_all(plant, design)
    chosen = analyses[design.rule]
    config = controller_config(rules[design.rule]["gains"], target=design.target, actuator=design.actuator,
                               bias=point.knob, direction=direction, sensor=design.sensor, limits=design.limits,
                               anti_windup=design.anti_windup)
    controller_config_from_dict(config)  # the written file must load as a controller config
    controller_path = write_controller_config(out / "controller" / "designed.yaml", config,
                                              _header(cfg, design, ident, chosen))

    # 4. closed loop on the backend against the prediction
    validation: dict[str, Any] = {}
    tracking = step = None
    if design.validation.seeds > 0:
        tracking = tracking_response(cfg, design, config, runs)
        validation["tracking"] = tracking.to_dict()
        log.info("tracking: %d/%d seeds in band", tracking.passed, tracking.y.shape[1])
        if design.validation.step_size:
            step = step_test_response(cfg, design, config, chosen, runs)
            validation["step"] = step.to_dict()

    files = {"model": "model.json", "controller": str(controller_path.relative_to(out)),
             "identification_plot": identification_plot(point, data, ident, out / "identification.png",
                                                        design.sensor).name,
             "bode_plot": bode_plot(chosen, out / "bode.png").name,
             "step_plot": step_plot(analyses, out / "step.png", chosen=design.rule).name}
    if validation:
        files["validation_plot"] = validation_plot(tracking, step, out / "validation.png", design.sensor).name
    labels = [label for label, held in zip(data.labels, data.held_out, strict=True) if held]
    model = {"convention": CONVENTION, "operating_point": point.__dict__, "sensor": design.sensor,
             "actuator": design.actuator, "direction": direction,
             "identification": {**ident.to_dict(), "held_out_labels": labels,
                                "scores_by_signal": _scores_by_signal(ident, labels)},
             "process_model": {**process.__dict__, "integrating": process.integrating}}
    (out / "model.json").write_text(json.dumps(jsonable(model), indent=2))
    objective = OmegaConf.to_container(cfg.objective, resolve=True)
    summary = {"design": {**OmegaConf.to_container(cfg.design, resolve=True), "limits": design.limits,
                          "excitation": dataclasses.asdict(design.excitation)},
               "backend": cfg.backend.get("_target_"),
               "objective": f"{objective['policy_loss']} + terms {objective['terms']}",
               **{k: model[k] for k in ("convention", "operating_point", "identification")},
               "plant_tf": _tf_text(plant.tf()), "process_model_text": _process_text(process), "rules": rules,
               "controller_yaml": controller_path.read_text(),
               "usage": f"entropic-train --config-dir {out} controller=designed",
               "warm_start": f"entropic-tune tune.warm_start.design=[{controller_path}]",
               "validation": validation, "files": files, "wall_time_s": time.perf_counter() - started}
    write_report(out, summary)
    return summary


def _tune_all(plant: DiscreteModel, design: DesignConfig) -> tuple[dict[str, dict], dict[str, LoopAnalysis]]:
    """Settings, gains and python-control analysis of every rule (a failing rule other than the chosen is noted)."""
    rules: dict[str, dict[str, Any]] = {}
    analyses: dict[str, LoopAnalysis] = {}
    for rule in RULES:
        try:
            settings = rule_settings(rule, plant, design.tau_c)
        except ValueError as error:
            if rule == design.rule:
                raise
            rules[rule] = {"error": str(error)}
            continue
        gains = settings.discrete_gains()
        analyses[rule] = loop_analysis(plant.tf(), gains["kp"], gains["ki"], gains["kd"], horizon=design.horizon,
                                       settling_threshold=design.validation.settling_threshold)
        rules[rule] = _rule_summary(settings, analyses[rule])
    if not analyses[design.rule].stable:
        raise ValueError(f"the {design.rule} design is unstable on the identified model (poles "
                         f"{analyses[design.rule].poles}); raise design.tau_c")
    return rules, analyses


def _header(cfg: DictConfig, design: DesignConfig, ident: Identification, chosen: LoopAnalysis) -> str:
    info = chosen.step_info
    return (f"{design.rule.upper()} controller designed by entropic-design for {design.sensor} = {design.target:g} "
            f"nats\non backend {cfg.backend.get('_target_', '?')}, objective {cfg.objective.policy_loss} + terms "
            f"{list(cfg.objective.terms)}.\nIdentified {ident.best} model, held-out NRMSE "
            f"{ident.scores[ident.best]:.3f}; tau_c = {design.tau_c:g} steps.\nPredicted: GM {chosen.margins.gm:.3g}, "
            f"PM {chosen.margins.pm:.1f} deg, overshoot {info.get('Overshoot', math.nan):.1f}%, settling "
            f"{info.get('SettlingTime', math.nan):.0f} steps.\nactuator.bias is the operating-point knob; the output "
            f"limits are in effort units (knob = bias + direction * effort).")


def _scores_by_signal(ident: Identification, labels: list[str]) -> dict[str, dict[str, float]]:
    """Mean held-out NRMSE of each model per excitation kind (``prbs``, ``step``)."""
    kinds = sorted({label.split()[0] for label in labels})
    return {model: {kind: float(np.mean([v for v, label in zip(values, labels, strict=True)
                                         if label.split()[0] == kind])) for kind in kinds}
            for model, values in ident.per_run.items()}


def _poly_text(coefficients: np.ndarray) -> str:
    degree = len(coefficients) - 1
    terms = []
    for power, value in zip(range(degree, -1, -1), coefficients, strict=True):
        if value == 0:
            continue
        base = "" if power == 0 else "z" if power == 1 else f"z^{power}"
        magnitude = f"{abs(value):.4g}" if (abs(value) != 1 or not base) else ""
        terms.append(("- " if value < 0 else "+ ") + magnitude + (" " if magnitude and base else "") + base)
    text = " ".join(terms) or "0"
    return text[2:] if text.startswith("+ ") else "-" + text[2:]


def _tf_text(system: ct.TransferFunction) -> str:
    num, den = ct.tfdata(system)
    return f"({_poly_text(np.asarray(num[0][0]))}) / ({_poly_text(np.asarray(den[0][0]))})"


def _process_text(process: ProcessModel) -> str:
    if process.integrating:
        return f"k' e^(-{process.theta:g} s) / s with k' = {process.gain:.4g} per effort unit and step"
    return f"k e^(-{process.theta:g} s) / ({process.tau1:.4g} s + 1) with k = {process.gain:.4g}"


@hydra.main(version_base="1.3", config_path="pkg://entropic.configs", config_name="design/default")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: run the design in Hydra's output directory and print that directory last."""
    output_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        summary = run_design(cfg, output_dir)
    except ValueError as error:
        log.error("%s", error)
        raise SystemExit(1) from error
    log.info("design: %s", yaml.safe_dump(jsonable(summary["rules"][summary["design"]["rule"]]["gains"])).strip())
    print(output_dir)  # noqa: T201  (the CLI's result: where the design went)
