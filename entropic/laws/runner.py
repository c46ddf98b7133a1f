"""Run a claim's experiments: compose each arm from the Hydra config tree, train it, read it back.

A claim's experiment is ``configs/experiment/<name>.yaml``. An :class:`Arm` is that config plus a
few overrides (another objective, per-run lists of a knob) run as one vectorised trainer whose R
runs are ``variants x seeds``, variant-major: runs ``[i * seeds, (i + 1) * seeds)`` are variant
``i``. Equal seeds across variants (``run_seeds``) give common random numbers, so variants are
compared seed by seed. The backend is built by :func:`entropic.experiment.build_trainer` from its
``_target_``; this module never imports a backend package.
"""

from __future__ import annotations

import importlib.resources
import logging
import re
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig, OmegaConf

from entropic.advantages import compute_advantages
from entropic.experiment import build_trainer
from entropic.laws.observer import LawsObserver
from entropic.laws.records import RunRecords
from entropic.loop import Trainer
from entropic.objectives import PolicyBatch

log = logging.getLogger(__name__)

LOOP_OVERRIDES = ("trainer.tensorboard=false", "trainer.checkpoint_every=0")
"""Every arm runs without TensorBoard files and checkpoints (``metrics.jsonl`` is what is read)."""

PROCEDURES = ("fit", "one_step")
_LABEL = re.compile(r"^[A-Z][A-Za-z -]*:")  # "Setting:", "Arms:", "Run:" end the hypothesis paragraph


@dataclass(frozen=True)
class Arm:
    """One vectorised trainer of a claim.

    Attributes
    ----------
    name : str
        Arm name (its output sub-directory).
    overrides : tuple[str, ...]
        Hydra overrides on top of the claim's experiment config.
    variants : tuple[str, ...]
        Names of the variant blocks of runs, in run order (variant-major).
    sensors : bool
        Log the law sensors (:class:`~entropic.laws.observer.LawsObserver`).
    states : str
        How tokens share logits for the sensors (``group_position`` for a bandit, ``token`` for an LM).
    procedure : str
        ``fit``: train ``trainer.steps`` steps. ``one_step``: record the logits before and after the
        first update only (:func:`one_step_probe`).
    requires : tuple[str, ...]
        Config-tree entries (``backend/toy_lm``) without which the arm is skipped as pending.
    quick : tuple[str, ...]
        Overrides added in quick mode (fewer steps or prompts; same verdict logic).
    experiment : str, optional
        The arm's own experiment config (another backend); default the claim's.
    full_only : bool
        Skipped in quick mode (the toy-LM arms: minutes each on two cores).
    """

    name: str
    overrides: tuple[str, ...] = ()
    variants: tuple[str, ...] = ("main",)
    sensors: bool = False
    states: str = "group_position"
    procedure: str = "fit"
    requires: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()
    experiment: str | None = None
    full_only: bool = False

    def __post_init__(self) -> None:
        if self.procedure not in PROCEDURES:
            raise ValueError(f"Arm.procedure must be one of {PROCEDURES}, got {self.procedure!r}")


@dataclass
class ArmRun:
    """A finished arm: its records (or probe tensors) split into variants x seeds.

    Attributes
    ----------
    arm : Arm
        What was run.
    config : dict
        The resolved run config.
    records : RunRecords, optional
        ``metrics.jsonl`` (``fit`` arms).
    probe : dict[str, Tensor], optional
        Logits before / after the first update and the batch (``one_step`` arms).
    """

    arm: Arm
    config: dict
    records: RunRecords | None = None
    probe: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    @property
    def num_runs(self) -> int:
        return int(self.config["num_runs"])

    @property
    def seeds(self) -> int:
        """Runs per variant."""
        return self.num_runs // len(self.arm.variants)

    def runs(self, variant: str) -> list[int]:
        """Run indices of ``variant``."""
        if variant not in self.arm.variants:
            raise KeyError(f"arm {self.arm.name!r} has no variant {variant!r}; variants: {list(self.arm.variants)}")
        start = self.arm.variants.index(variant) * self.seeds
        return list(range(start, start + self.seeds))

    def of(self, variant: str) -> RunRecords:
        """The records of one variant's runs (columns = seeds)."""
        if self.records is None:
            raise ValueError(f"arm {self.arm.name!r} has no records (procedure {self.arm.procedure!r})")
        return self.records.select(self.runs(variant))

    def knob(self, path: str) -> np.ndarray:
        """``[R]``: a config value per run (a list, or one number repeated), e.g. ``backend.lr``."""
        node: Any = self.config
        for part in path.split("."):
            node = node[part]
        values = np.asarray(node, dtype=np.float64).reshape(-1)
        return values if values.size == self.num_runs else np.full(self.num_runs, float(values[0]))


def config_exists(entry: str) -> bool:
    """Whether ``configs/<entry>.yaml`` is in the config tree (``entry`` like ``backend/toy_lm``)."""
    return importlib.resources.files("entropic.configs").joinpath(f"{entry}.yaml").is_file()


def experiment_text(experiment: str) -> str:
    """The text of ``configs/experiment/<experiment>.yaml``."""
    return importlib.resources.files("entropic.configs").joinpath(f"experiment/{experiment}.yaml").read_text()


def hypothesis(experiment: str) -> str:
    """The ``# Hypothesis:`` paragraph of an experiment file's header comment, as one line.

    The paragraph ends at an empty comment line, a labelled line (``# Setting: ...``) or the first
    line that is not a comment.
    """
    lines, inside = [], False
    for line in experiment_text(experiment).splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if text.lower().startswith("hypothesis:"):
            inside, text = True, text.split(":", 1)[1].strip()
        elif inside and (not text or _LABEL.match(text)):
            break
        if inside and text:
            lines.append(text)
    return " ".join(lines)


def compose_arm(experiment: str, overrides: Sequence[str] = ()) -> DictConfig:
    """The run config of ``experiment=<experiment>`` with ``overrides``, composed like ``entropic-train``."""
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        return compose(config_name="train", overrides=[f"experiment={experiment}", *LOOP_OVERRIDES, *overrides])


def run_arm(experiment: str, arm: Arm, output_dir: str | Path, quick: bool = False,
            extra: Sequence[str] = ()) -> ArmRun:
    """Compose, build and run one arm in ``output_dir`` (emptied first), and read it back."""
    output_dir = Path(output_dir)
    _clear_arm_dir(output_dir)
    cfg = compose_arm(experiment, [*arm.overrides, *(arm.quick if quick else ()), *extra])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = build_trainer(cfg, output_dir)
    for warning in caught:
        log.info("%s/%s: %s", experiment, arm.name, warning.message)
    config = OmegaConf.to_container(cfg, resolve=True)
    if config["num_runs"] % len(arm.variants):
        raise ValueError(f"{experiment}/{arm.name}: num_runs={config['num_runs']} is not a multiple of the "
                         f"{len(arm.variants)} variants {list(arm.variants)}")
    if arm.sensors:
        lr = config["backend"].get("lr")
        trainer.observe = LawsObserver(lr=lr, states=arm.states)
    if arm.procedure == "one_step":
        probe = one_step_probe(trainer)
        torch.save(probe, output_dir / "probe.pt")
        return ArmRun(arm, config, probe=probe)
    trainer.fit(progress=False)
    trainer.run_log.close()
    return ArmRun(arm, config, records=RunRecords.load(output_dir))


ARM_FILES = frozenset({"metrics.jsonl", "config.yaml", "summary.json", "probe.pt", "tensorboard", "checkpoints"})
"""What an arm directory holds; anything else makes :func:`run_arm` refuse to empty it."""


def _clear_arm_dir(directory: Path) -> None:
    """Remove an earlier arm's files (the trainer would otherwise resume from them)."""
    if not directory.exists():
        return
    foreign = sorted(p.name for p in directory.iterdir() if p.name not in ARM_FILES)
    if foreign:
        raise ValueError(f"{directory} holds files that are not an entropic-laws run ({foreign[:5]}); "
                         f"choose another --out")
    shutil.rmtree(directory)


def one_step_probe(trainer: Trainer) -> dict[str, torch.Tensor]:
    """One on-policy update of ``trainer`` with the full logits of the batch's states before and after.

    Returns
    -------
    dict[str, Tensor]
        ``before``, ``after`` ``[B, T, K]``; ``tokens``, ``advantages``, ``mask`` ``[B, T]``; ``run`` ``[B]``.
    """
    backend = trainer.backend
    rollout = backend.rollout()
    advantages = compute_advantages(rollout, trainer.advantage)
    stats = backend.score(rollout, entropy="grad")
    if stats.logits is None:
        raise ValueError("the one-step probe needs TokenStats.logits (a simulator backend with return_logits)")
    before = stats.logits.detach().clone()
    loss, _ = trainer.objective(PolicyBatch.from_step(rollout, stats, advantages, trainer.generators),
                                trainer.control)
    backend.backward(loss)
    backend.step()
    after = backend.score(rollout, entropy="none").logits.detach().clone()
    return {"before": before, "after": after, "tokens": rollout.tokens, "advantages": advantages,
            "mask": rollout.mask, "run": rollout.run_ids()}
