"""The method of an entropic run config, as an engine's exporter reads it (``entropic-export``)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from omegaconf import OmegaConf

from entropic.advantages import AdvantageConfig
from entropic.control import Control
from entropic.controllers import ControllerConfig
from entropic.experiment import RunConfig, validate
from entropic.loop import TrainerConfig
from entropic.objectives import ObjectiveConfig


@dataclasses.dataclass
class EntropicMethod:
    """What an entropic config says about one training run, as :func:`load_method` reads it."""

    objective: ObjectiveConfig
    advantage: AdvantageConfig
    control: Control
    controller: ControllerConfig | None
    trainer: TrainerConfig


def entropic_parts(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``objective``, ``control`` and ``controller`` of one run (the keyword arguments of
    :class:`~entropic.llm.trl_adapter.EntropicGRPOTrainer`) from an
    entropic run config: a run's ``config.yaml``, or the complete config ``entropic-tune`` exports for its best
    trial. Validated as ``entropic-train`` validates it; a per-run list (several runs) is refused."""
    data = OmegaConf.load(path)
    data.pop("defaults", None)  # an exported config composes with entropic-train's schema; its values are here
    cfg = OmegaConf.merge(OmegaConf.structured(RunConfig), data)
    run = validate(cfg)
    if run.base_control.num_runs not in (None, 1) or isinstance(run.controller_config, list):
        raise ValueError(f"{path}: per-run lists of knobs or controllers describe several runs; an engine's run is one")
    return {"objective": run.objective, "control": run.base_control, "controller": run.controller_config}


def load_method(path: str | os.PathLike[str]) -> EntropicMethod:
    """The method of an entropic run config (a run's ``config.yaml``, or the best config ``entropic-tune``
    exports): objective, knobs and controller as :func:`entropic_parts` validates them (one run), and the
    advantage estimator and PPO epochs and mini-batch of the same file."""
    parts = entropic_parts(path)
    data = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    trainer = {k: v for k, v in (data.get("trainer") or {}).items() if k in {"ppo_epochs", "ppo_mini_batch_size"}}
    return EntropicMethod(advantage=AdvantageConfig(**(data.get("advantage") or {})), trainer=TrainerConfig(**trainer),
                          **parts)
