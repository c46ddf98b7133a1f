"""The transfer ladder: a controller tuned on the source, carried rung by rung and compared on held-out seeds.

For every rung (the source first, then each target)::

    probe       initial entropy and noise floor: the batch entropy's spread over rollouts at the
                initial policy (no update), the floor a tracking error is read against
    identify    entropic-design's open-loop identification at the rung's setpoint (operating point,
                runaway, PRBS excitation, FOPDT / integrating / ARX fit) and its SIMC design
    tune        an entropic-tune study on the rung with the rung's budget (the source: the controller
                to transfer, unless one is given; a target: the ``tuned`` column)
    score       every candidate on the same held-out seeds: tracking error (mean |entropy - setpoint|
                over the second half), pass@1, pass@k, reward AUC

On a target rung the candidates are the source's PI gains carried by the ratio of the two identified
plants (:func:`~entropic.tuning.transfer.gains.transfer_gains`), the same gains copied unchanged, the
rung's own SIMC design, the rung's study, and the published defaults (DAPO, Skywork-OR1, EntroPIC,
their targets at the rung's setpoint). Each candidate's cost is the CPU seconds spent obtaining it:
the copied gains cost the source's study, the transferred ones that plus both identifications.

Every stage writes ``stage.json`` in its directory when done; running the ladder again in the same
directory re-uses finished stages (a killed ladder resumes where it stopped).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import torch
import yaml
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from entropic.controllers import ACTUATORS
from entropic.experiment import RunConfig, validate
from entropic.loop import TrainerConfig
from entropic.tuning.design.cli import run_design
from entropic.tuning.design.report import jsonable
from entropic.tuning.design.rules import ProcessModel, controller_config, write_controller_config
from entropic.tuning.processes import cpu_seconds, max_runs, run_apart
from entropic.tuning.study.batch import Method, Simulator
from entropic.tuning.study.cli import run_config, run_study, tune_config, warm_start_methods
from entropic.tuning.study.optuna_study import best_trials
from entropic.tuning.study.space import load_preset, method_from_config
from entropic.tuning.study.storage import storage_url
from entropic.tuning.study.targets import MethodScore, TargetSettings, get_targets, score_methods
from entropic.tuning.sysid.noise import batch_entropies
from entropic.tuning.transfer.config import RungConfig, TransferConfig, TransferRunConfig
from entropic.tuning.transfer.gains import carried_effort_limits, transfer_gains, transfer_setpoint

log = logging.getLogger(__name__)

PROGRESS = Callable[[str], None]
"""``progress(stage)``: called as each stage starts (a progress bar's description)."""


def validated(cfg: DictConfig) -> TransferConfig:
    """The ``transfer`` section, checked (types, ranges, unknown keys) before any work."""
    return validate(cfg, TransferRunConfig).transfer


def run_ladder(cfg: DictConfig, output_dir: str | Path, progress: PROGRESS | None = None) -> dict[str, Any]:
    """Run the whole ladder in ``output_dir``; returns the summary (also written to ``transfer.json``).

    Parameters
    ----------
    cfg : DictConfig
        A composed ``configs/transfer/default.yaml``.
    output_dir : str or Path
        One sub-directory per rung, ``transfer.json``, ``transfer.md`` and the plots.
    progress : callable, optional
        Told the name of each stage as it starts.
    """
    transfer = validated(cfg)
    out = Path(output_dir)
    seed = int(cfg.seed)
    tell = progress or (lambda stage: None)
    source = transfer.rungs[0]
    given = None if transfer.controller is None else _source_controller(transfer.controller)
    for rung in transfer.rungs:  # every rung's run config checked before any work (its backend's fields: when built)
        validate(run_config(_rung_cfg(rung, "tune/default", seed, {})), RunConfig)
    _claim(out, cfg)
    rungs: list[dict[str, Any]] = []

    tell(f"{source.name}: probe")
    source_probe = _stage(out / source.name / "probe", lambda d: _probe(source, seed, transfer, d))
    tell(f"{source.name}: identify")
    source_design = _stage(out / source.name / "design", lambda d: _identify(source, source.setpoint, seed, d))
    if transfer.controller is None:
        tell(f"{source.name}: tune")
        source_study = _stage(out / source.name / "tune", lambda d: _tune(source, source.setpoint, seed, d))
        if source_study["pi"] is None:
            raise ValueError(f"the study on the source rung {source.name!r} completed no PI/PID trial to transfer")
        source_controller, source_cost = source_study["pi"]["controller"], source_study["cpu_seconds"]
    else:
        source_study = None
        source_controller, source_cost = given
    source_plant = None if "error" in source_design else _process(source_design)

    for index, rung in enumerate(transfer.rungs):
        is_source = index == 0
        rung_dir = out / rung.name
        probe = source_probe if is_source else None
        if probe is None:
            tell(f"{rung.name}: probe")
            probe = _stage(rung_dir / "probe", lambda d, r=rung: _probe(r, seed, transfer, d))
        setpoint = _setpoint(transfer, rung, source_probe, probe)
        design = source_design
        if not is_source:
            tell(f"{rung.name}: identify")
            design = _stage(rung_dir / "design", lambda d, r=rung, s=setpoint: _identify(r, s, seed, d))
        study = source_study if is_source else None
        if not is_source and rung.trials and "tuned" in transfer.candidates:
            tell(f"{rung.name}: tune")
            study = _stage(rung_dir / "tune", lambda d, r=rung, s=setpoint: _tune(r, s, seed, d))
        base, baselines = _methods_of(rung, setpoint, seed)
        candidates, mapping = _candidates(transfer, is_source, base, baselines, setpoint, design, study,
                                          source_controller, source_plant, source_cost, source_design, rung_dir,
                                          rung.design.limits)
        tell(f"{rung.name}: score {len(candidates)} controllers on {transfer.heldout_seeds} held-out seeds")
        scored = _stage(rung_dir / "score", lambda d, r=rung, c=candidates, s=setpoint: _score(
            r, s, seed, transfer, {name: method for name, (method, _) in c.items()}, d))
        rungs.append({"name": rung.name, "backend": rung.backend, "setpoint": setpoint, **probe,
                      "operating_point": design.get("operating_point"), "process_model": design.get("process_model"),
                      "identification_nrmse": design.get("nrmse"), "identification_error": design.get("error"),
                      "mapping": mapping,
                      "costs": {name: cost for name, (_, cost) in candidates.items()},
                      "scores": scored["scores"], "targets": scored["targets"]})
    summary = {"seed": seed, "setpoint_mode": transfer.setpoint_mode, "heldout_seeds": transfer.heldout_seeds,
               "source_controller": source_controller, "source_cost_s": source_cost, "rungs": rungs}
    (out / "transfer.json").write_text(json.dumps(jsonable(summary), indent=2))
    return summary


def _claim(out: Path, cfg: DictConfig) -> None:
    """Record the ladder's setup in ``out/setup.yaml``, or refuse a directory that holds another setup's stages
    (only ``transfer.until`` may differ: a ladder run again further resumes)."""
    setup = OmegaConf.to_container(cfg, resolve=True)
    setup["transfer"].pop("until", None)
    path = out / "setup.yaml"
    if path.is_file():
        held = yaml.safe_load(path.read_text())
        if held != setup:
            raise ValueError(f"{out} holds the stages of another transfer setup ({path}); give a new "
                             "hydra.run.dir, or the same settings to resume")
        return
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(setup, sort_keys=False))


def _stage(directory: Path, work: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """``work(directory)``'s result, or the one a finished earlier run left in ``directory/stage.json``."""
    done = directory / "stage.json"
    if done.is_file():
        return json.loads(done.read_text())
    directory.mkdir(parents=True, exist_ok=True)
    result = jsonable(work(directory))
    done.write_text(json.dumps(result, indent=2))
    return result


def _compose(name: str, overrides: list[str]) -> DictConfig:
    """Compose ``configs/<name>.yaml`` (inside a running Hydra app or not)."""
    if GlobalHydra.instance().is_initialized():
        return compose(config_name=name, overrides=overrides)
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


def _rung_cfg(rung: RungConfig, name: str, seed: int, section: dict[str, Any]) -> DictConfig:
    """The rung's ``design/default`` or ``tune/default`` config with ``section`` merged on top."""
    try:
        cfg = _compose(name, [f"backend={rung.backend}", f"seed={seed}", f"trainer.steps={rung.steps}",
                              *rung.overrides])
    except HydraException as error:
        raise ValueError(f"transfer.rungs[{rung.name}] (backend={rung.backend}, overrides {rung.overrides}): "
                         f"{error}") from None
    return OmegaConf.merge(cfg, section)


def _probe(rung: RungConfig, seed: int, transfer: TransferConfig, directory: Path) -> dict[str, float]:
    """Initial entropy and noise floor of the rung (mean over the held-out seeds; at most ``max_runs`` per process)."""
    backend = OmegaConf.to_container(_rung_cfg(rung, "tune/default", seed, {}).backend, resolve=True)
    seeds = [seed + transfer.heldout_offset + s for s in range(transfer.heldout_seeds)]
    limit = max_runs(backend)
    if limit is None:
        readings = _entropies(backend, seeds, transfer.noise_rollouts)
    else:
        readings = torch.cat(run_apart(_entropies, [(backend, [s], transfer.noise_rollouts) for s in seeds]), dim=1)
    return {"initial_entropy": float(readings.double().mean()), "noise_floor": float(readings.double().std(0).mean()),
            "noise_rollouts": transfer.noise_rollouts}


def _entropies(backend: dict[str, Any], seeds: list[int], rollouts: int) -> torch.Tensor:
    """Batch entropies ``[rollouts, R]`` at the initial policy of runs with ``seeds``."""
    return batch_entropies(instantiate(backend, num_runs=len(seeds), seeds=seeds), rollouts)


def _setpoint(transfer: TransferConfig, rung: RungConfig, source_probe: dict, probe: dict) -> float:
    """The rung's setpoint in nats."""
    source = transfer.rungs[0]
    if rung is source or rung.setpoint is not None:
        return float(rung.setpoint)
    return transfer_setpoint(float(source.setpoint), transfer.setpoint_mode, source_probe["initial_entropy"],
                             probe["initial_entropy"])


def _identify(rung: RungConfig, setpoint: float, seed: int, directory: Path) -> dict[str, Any]:
    """Identification and SIMC design at ``setpoint`` (no closed-loop validation: the ladder scores it).

    An identification the design refuses (a plant of the wrong sign, faster than one step, ...) is a result
    too: ``{"error": reason, "cpu_seconds": ...}``, and the rung goes on without the controllers it needs.
    """
    design = dataclasses.asdict(rung.design)
    design.update(target=setpoint, validation={**design["validation"], "seeds": 0})
    cfg = _rung_cfg(rung, "design/default", seed, {"design": design})
    started = cpu_seconds()
    try:
        summary = run_design(cfg, directory)
    except ValueError as error:
        log.warning("rung %s: the identification failed, no transferred or designed controller there: %s",
                    rung.name, error)
        return {"error": str(error), "cpu_seconds": cpu_seconds() - started}
    model = json.loads((directory / "model.json").read_text())
    return {"operating_point": summary["operating_point"], "process_model": model["process_model"],
            "nrmse": summary["identification"]["scores"][summary["identification"]["best"]],
            "design": dict(summary["design"]), "controller": yaml.safe_load(summary["controller_yaml"]),
            "cpu_seconds": cpu_seconds() - started}


def _tune(rung: RungConfig, setpoint: float, seed: int, directory: Path) -> dict[str, Any]:
    """A study on the rung (its ``tune`` budget); its best method, its best PI/PID method and its CPU seconds."""
    tune = {"study_name": f"transfer_{rung.name}", "target_entropy": setpoint, "report": False,
            **dataclasses.asdict(rung.tune)}
    cfg = _rung_cfg(rung, "tune/default", seed, {"tune": tune})
    started = cpu_seconds()
    run_study(cfg, directory)
    study = optuna.load_study(study_name=tune["study_name"], storage=storage_url(tune_config(cfg).storage, directory))
    best = best_trials(study)
    if not best:
        raise ValueError(f"the study on rung {rung.name!r} completed no trial: raise transfer.rungs.tune.n_trials")
    return {"method": best[0].user_attrs["method"], "pi": best_pi(study), "trial": best[0].number,
            "trials": len(study.trials), "cpu_seconds": cpu_seconds() - started}


def best_pi(study: optuna.Study) -> dict[str, Any] | None:
    """The method of the study's best completed trial whose controller is a PI/PID law (``None`` if none is)."""
    sign = 1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else -1.0
    trials = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
              if _law(t.user_attrs["method"].get("controller")) in PI_LAWS]
    return min(trials, key=lambda t: sign * t.values[0]).user_attrs["method"] if trials else None


def study_controller(directory: Path) -> tuple[dict[str, Any], float]:
    """The controller of the best PI/PID trial of the ``entropic-tune`` output ``directory`` (SQLite storage), and
    the CPU seconds every worker of the study spent."""
    summary = json.loads((directory / "tune_summary.json").read_text())
    study = optuna.load_study(study_name=summary["study_name"], storage=storage_url(None, directory))
    method = best_pi(study)
    if method is None:
        raise ValueError(f"transfer.controller: the study in {str(directory)!r} has no completed PI/PID trial")
    return method["controller"], sum(worker["cpu_seconds"] for worker in summary["workers"].values())


def _methods_of(rung: RungConfig, setpoint: float, seed: int) -> tuple[Method, dict[str, Method]]:
    """The rung's base method (objective of the PI candidates) and the published defaults at ``setpoint``."""
    cfg = _rung_cfg(rung, "tune/default", seed, {"tune": {"target_entropy": setpoint}})
    tune = tune_config(cfg)
    base = method_from_config(run_config(cfg))
    tune = dataclasses.replace(tune, warm_start=dataclasses.replace(tune.warm_start, preset=False, design=[]))
    return base, warm_start_methods(tune, base)


PI_LAWS = ("pi", "pid")
"""Control laws :func:`~entropic.tuning.transfer.gains.transfer_gains` carries."""


def _law(controller: dict[str, Any] | None) -> str | None:
    return None if controller is None else controller.get("law", {}).get("name")


def _source_controller(path: str) -> tuple[dict[str, Any], float]:
    """``transfer.controller`` and its cost: a controller YAML (cost unknown: NaN), or an ``entropic-tune`` output
    directory (its best PI/PID trial, and the study's CPU seconds)."""
    if Path(path).is_dir():
        controller, cost = study_controller(Path(path))
    else:
        controller, cost = load_preset("controller", path), math.nan
    if _law(controller) not in PI_LAWS:
        raise ValueError(f"transfer carries PI/PID laws (law.name in {list(PI_LAWS)}); transfer.controller={path!r} "
                         f"has law.name={_law(controller)!r}")
    return controller, cost


def _process(design: dict[str, Any]) -> ProcessModel:
    """The identified plant of a design stage (an integrating plant's infinite time constant is null in JSON)."""
    fields = {f.name for f in dataclasses.fields(ProcessModel)}
    values = {k: v for k, v in design["process_model"].items() if k in fields}
    if design["process_model"].get("integrating"):
        values["tau1"] = math.inf
    return ProcessModel(**values)


def _candidates(transfer: TransferConfig, is_source: bool, base: Method, baselines: dict[str, Method],
                setpoint: float, design: dict[str, Any], study: dict[str, Any] | None,
                source_controller: dict[str, Any], source_plant: ProcessModel | None, source_cost: float,
                source_design: dict[str, Any], rung_dir: Path,
                knob_limits: list[float] | None) -> tuple[dict[str, tuple[Method, float]], dict]:
    """Each candidate's method and CPU cost on this rung, and the gain mapping (target rungs).

    Without a plant on either side (an identification that failed) there is no transferred controller, and
    without the rung's own no designed one. ``knob_limits`` are the rung's as configured (``design.limits``,
    the runaway not applied): the transferred controller's carried effort range stays inside them.
    """
    def with_controller(controller: dict[str, Any]) -> Method:
        return dataclasses.replace(copy.deepcopy(base), controller=copy.deepcopy(controller))

    found: dict[str, tuple[Method, float]] = {}
    mapping: dict[str, Any] = {}
    identified = "error" not in design
    if is_source:
        found["tuned"] = (with_controller(source_controller), source_cost)
    else:
        copied = copy.deepcopy(source_controller)
        copied["law"]["setpoint"] = setpoint
        write_controller_config(rung_dir / "controller" / "copied.yaml", copied,
                                f"The source's controller copied unchanged to rung {rung_dir.name}, setpoint "
                                f"{setpoint:.4g} nats.")
        found["copied"] = (with_controller(copied), source_cost)
        if study is not None:
            found["tuned"] = (Method.from_dict(study["method"]), study["cpu_seconds"])
    if not is_source and identified and source_plant is not None:
        target_plant = _process(design)
        law = source_controller["law"]
        carried = transfer_gains({k: float(law.get(k) or 0.0) for k in ("kp", "ki", "kd")}, source_plant, target_plant)
        actuator = source_controller["actuator"]["name"]
        transferred = controller_config(
            carried.gains, target=setpoint, actuator=actuator, bias=design["operating_point"]["knob"],
            direction=ACTUATORS.get(actuator).direction, sensor=source_controller["sensor"]["name"],
            limits=None, anti_windup=law.get("anti_windup") or "clamp")
        bias, direction = design["operating_point"]["knob"], ACTUATORS.get(actuator).direction
        within = None if knob_limits is None else tuple(sorted(direction * (knob - bias) for knob in knob_limits))
        transferred["law"].update(carried_effort_limits(law, carried.gain_ratio, within))
        mapping = {"rule": carried.rule, "gain_ratio": carried.gain_ratio, "time_ratio": carried.time_ratio,
                   "source_model": dataclasses.asdict(source_plant), "target_model": dataclasses.asdict(target_plant),
                   "source_gains": {k: law.get(k) for k in ("kp", "ki", "kd")}, "gains": carried.gains}
        header = (f"Carried by entropic-transfer from the source's PI to rung {rung_dir.name} ({carried.rule} rule):\n"
                  f"gain ratio {carried.gain_ratio:.4g}, time ratio {carried.time_ratio:.4g}.\n"
                  f"Source plant {dataclasses.asdict(source_plant)}.\n"
                  f"Target plant {dataclasses.asdict(target_plant)}.\n"
                  f"Setpoint {setpoint:.4g} nats ({transfer.setpoint_mode}); bias: the target's operating-point knob;\n"
                  f"effort limits: the source's times the gain ratio, inside the rung's knob limits.")
        write_controller_config(rung_dir / "controller" / "transferred.yaml", transferred, header)
        transfer_cost = source_cost + source_design["cpu_seconds"] + design["cpu_seconds"]
        found["transferred"] = (with_controller(transferred), transfer_cost)
    if identified:
        found["design"] = (with_controller(design["controller"]), design["cpu_seconds"])
    found.update({name: (method, 0.0) for name, method in baselines.items()})
    return {name: found[name] for name in transfer.candidates if name in found}, mapping


def _score(rung: RungConfig, setpoint: float, seed: int, transfer: TransferConfig, methods: dict[str, Method],
           directory: Path) -> dict[str, Any]:
    """Every method on the held-out seeds: per-seed values of each target and the mean trajectories."""
    run = run_config(_rung_cfg(rung, "tune/default", seed, {}))
    eval_k = [k for k in (run["backend"].get("eval_k") or [1]) if k > 1]
    names = ["tracking_error", "pass@1", *([f"pass@{eval_k[0]}"] if eval_k else []), "reward_auc"]
    simulator = Simulator(backend=run["backend"], trainer=TrainerConfig(steps=rung.steps), workdir=directory / "sim")
    seeds = [seed + transfer.heldout_offset + s for s in range(transfer.heldout_seeds)]
    scores = score_methods(simulator, methods, seeds, get_targets(names), TargetSettings(target_entropy=setpoint))
    return {"targets": names, "seeds": seeds, "scores": {name: _score_dict(score) for name, score in scores.items()}}


def _score_dict(score: MethodScore) -> dict[str, Any]:
    return {"values": score.values, "error": score.error, "reward": score.reward, "entropy": score.entropy}
