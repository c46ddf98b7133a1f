"""An entropic config as verl 0.9.1 Hydra overrides and a launch script (``entropic-export --to verl``).

The overrides set verl's own fields where verl has the setting (:mod:`entropic.llm.verl.knobs`) and put
the rest in entropic's top-level ``entropic`` group (added with ``+``: verl's dataclasses reject unknown
fields). They pick the route of :mod:`entropic.llm.verl.routes`:

- the loss is verl's own (``policy_loss.loss_mode=vanilla``, ``entropy_coeff``, ``use_kl_loss``) when
  every part of the objective is native and there is no controller;
- otherwise the ``entropic`` trainer runs (``trainer.v1.trainer_mode=entropic``) with
  ``loss_mode=entropic_<name>`` and the whole-loss hook;
- the advantage estimator is verl's own when native, else ``entropic_<name>``; one without a route is
  refused with the reason.

Settings with no verl field and no route are refused too (``advantage.epsilon``, which verl fixes at
1e-6; a non-integer ``loss_scale_factor``, an integer field in verl). The launch script runs
``python3 -m verl.trainer.main_ppo`` with the run-specific settings of :data:`LAUNCH_SETTINGS` (model,
data, batch sizes, GPUs: environment variables with defaults), the overrides, and any extra arguments.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from entropic.advantages import AdvantageConfig
from entropic.llm.method import EntropicMethod, load_method
from entropic.llm.verl.hydra_overrides import flatten, hydra_value
from entropic.llm.verl.knob_hook import KnobHook
from entropic.llm.verl.knobs import ACTOR, ENTROPIC_KNOBS, ENTROPIC_OBJECTIVE, GROUP, VERL_KNOBS
from entropic.llm.verl.routes import (
    KL_TERMS,
    NATIVE_ADV_ESTIMATORS,
    NATIVE_LOSS_NAME,
    NATIVE_POLICY_LOSSES,
    NATIVE_TERMS,
    NO_ROUTE_ADV_ESTIMATORS,
    NO_ROUTE_TERMS,
    PREFIX,
    TRAINER_MODE,
)
from entropic.objectives import Objective, ObjectiveConfig

VERL_EPSILON = 1e-6
"""The GRPO std guard verl's estimators use (not configurable there)."""
LAUNCH_SETTINGS = {
    "data.train_files": ("TRAIN_FILES", None),
    "data.val_files": ("VAL_FILES", None),
    "data.train_batch_size": ("TRAIN_BATCH_SIZE", "64"),
    "data.max_prompt_length": ("MAX_PROMPT_LENGTH", "512"),
    "data.max_response_length": ("MAX_RESPONSE_LENGTH", "1024"),
    "actor_rollout_ref.model.path": ("MODEL", None),
    "actor_rollout_ref.rollout.n": ("GROUP_SIZE", "8"),
    f"{ACTOR}.ppo_micro_batch_size_per_gpu": ("MICRO_BATCH_PER_GPU", "4"),
    "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu": ("MICRO_BATCH_PER_GPU", "4"),
    "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu": ("MICRO_BATCH_PER_GPU", "4"),
    "trainer.n_gpus_per_node": ("N_GPUS", "8"),
    "trainer.nnodes": ("NNODES", "1"),
    "trainer.total_epochs": ("TOTAL_EPOCHS", "1"),
    "trainer.project_name": ("PROJECT", "entropic"),
    "trainer.experiment_name": ("EXPERIMENT", "entropic"),
}
"""Run-specific verl settings of the launch script: override -> (environment variable, default or required)."""


def needs_adapter(method: EntropicMethod) -> bool:
    """Whether the loss needs the ``entropic`` trainer: a controller, or a part verl's ``ppo_loss`` lacks."""
    objective = method.objective
    native_loss = objective.policy_loss in NATIVE_POLICY_LOSSES or objective.policy_loss in NATIVE_LOSS_NAME
    return (method.controller is not None or not native_loss or bool(objective.modifiers)
            or not set(objective.terms) <= set(NATIVE_TERMS))


def _advantage_settings(advantage: AdvantageConfig) -> dict[str, Any]:
    name = advantage.adv_estimator
    if name in NO_ROUTE_ADV_ESTIMATORS:
        raise ValueError(f"advantage.adv_estimator={name!r} has no route in verl: it {NO_ROUTE_ADV_ESTIMATORS[name]}")
    if advantage.epsilon != VERL_EPSILON:
        raise ValueError(f"advantage.epsilon={advantage.epsilon} has no verl field (verl's estimators use "
                         f"{VERL_EPSILON}); set it to {VERL_EPSILON}")
    return {"algorithm.adv_estimator": name if name in NATIVE_ADV_ESTIMATORS else PREFIX + name,
            "algorithm.norm_adv_by_std_in_grpo": advantage.norm_adv_by_std_in_grpo,
            "algorithm.gamma": advantage.gamma}


def _loss_scale_factor(objective: ObjectiveConfig) -> int | None:
    factor = objective.loss_scale_factor
    if factor is not None and factor != int(factor):
        raise ValueError(f"objective.loss_scale_factor={factor} must be an integer for verl's "
                         f"{ACTOR}.loss_scale_factor")
    return None if factor is None else int(factor)


def verl_overrides(method: EntropicMethod) -> list[str]:
    """The Hydra overrides of ``verl.trainer.main_ppo`` (config ``ppo_trainer``) that run ``method``."""
    objective, control = method.objective, method.control
    for term in objective.terms:
        if term in NO_ROUTE_TERMS:
            raise ValueError(f"objective.terms: {term!r} has no route in verl: it {NO_ROUTE_TERMS[term]}")
    if method.controller is not None:  # a feedback law's sensor must be measurable in verl: refuse early
        KnobHook(method.controller, control, objective.loss_agg_mode)
    adapter = needs_adapter(method)
    terms = set(objective.terms)
    knobs = {name: float(getattr(control, name)) for name in VERL_KNOBS}
    if "entropy" not in terms:
        knobs["entropy_coeff"] = 0.0
    actor = {f"{ACTOR}.{path}": knobs[name] for name, path in VERL_KNOBS.items()}
    loss_mode = PREFIX + objective.policy_loss if adapter else NATIVE_LOSS_NAME.get(objective.policy_loss,
                                                                                      objective.policy_loss)
    actor |= {f"{ACTOR}.policy_loss.loss_mode": loss_mode, f"{ACTOR}.loss_agg_mode": objective.loss_agg_mode,
              f"{ACTOR}.loss_scale_factor": _loss_scale_factor(objective),
              f"{ACTOR}.kl_loss_type": objective.kl_loss_type, f"{ACTOR}.use_kl_loss": bool(terms & set(KL_TERMS)),
              f"{ACTOR}.calculate_entropy": Objective(objective).needs_entropy,
              f"{ACTOR}.ppo_epochs": method.trainer.ppo_epochs,
              f"{ACTOR}.ppo_mini_batch_size": method.trainer.ppo_mini_batch_size or "${data.train_batch_size}"}
    settings = {**actor, **_advantage_settings(method.advantage)}
    if adapter:
        group = {"objective": {name: getattr(objective, name) for name in ENTROPIC_OBJECTIVE},
                 "control": {name: float(getattr(control, name)) for name in ENTROPIC_KNOBS}}
        if method.controller is not None:
            group["controller"] = dataclasses.asdict(method.controller)
        settings |= {"trainer.v1.trainer_mode": TRAINER_MODE}
        settings |= {f"+{key}": value for key, value in flatten(GROUP, group).items()}
    return [f"{key}={hydra_value(value)}" for key, value in settings.items()]


def launch_settings(environment: Mapping[str, str] | None = None) -> list[str]:
    """The launch script's run-specific overrides, with values from ``environment`` (else the defaults)."""
    environment = environment or {}
    return [f"{key}={environment.get(variable, default)}" for key, (variable, default) in LAUNCH_SETTINGS.items()]


def launch_script(overrides: list[str], source: str) -> str:
    """A bash script running verl's ``main_ppo`` with :data:`LAUNCH_SETTINGS` and ``overrides``."""
    variables = {variable: default for variable, default in LAUNCH_SETTINGS.values()}
    lines = ["#!/usr/bin/env bash",
             f"# verl 0.9.1 run of the entropic config {source}, written by entropic-export.",
             "# entropic must be installed (with verl) wherever verl runs: its verl.plugins entry points register",
             "# the entropic_* losses and estimators and the 'entropic' trainer in every process.",
             "set -euo pipefail"]
    for variable, default in variables.items():
        lines.append(f': "${{{variable}:?set {variable}}}"' if default is None else f': "${{{variable}:={default}}}"')
    lines.append("python3 -m verl.trainer.main_ppo \\")
    settings = [f'{key}="${{{variable}}}"' for key, (variable, _) in LAUNCH_SETTINGS.items()]
    lines += [f"    {line} \\" for line in settings + [shlex.quote(o) for o in overrides]]
    lines.append('    "$@"')
    return "\n".join(lines) + "\n"


def export_verl(config: str | os.PathLike[str], out: str | os.PathLike[str]) -> dict[str, str]:
    """Write ``verl_overrides.txt`` (one override a line) and ``run_verl.sh`` for the entropic config ``config``."""
    overrides = verl_overrides(load_method(config))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"overrides": out / "verl_overrides.txt", "launch": out / "run_verl.sh"}
    files["overrides"].write_text("\n".join(overrides) + "\n")
    files["launch"].write_text(launch_script(overrides, str(config)))
    files["launch"].chmod(0o755)
    return {name: str(path) for name, path in files.items()}
