"""A tiny bandit study composed from configs/tune/, for the tuning tests."""

from __future__ import annotations

from hydra import compose, initialize_config_module
from omegaconf import DictConfig

TINY = [
    "backend.num_prompts=4", "backend.num_arms=8", "backend.num_correct=2", "backend.group_size=4",
    "backend.init_entropy=1.5", "backend.eval_k=[1,4]", "trainer.steps=40",
    "tune.seeds=2", "tune.batch_size=4", "tune.n_trials=8", "tune.report_every=10", "tune.heldout_seeds=2",
    "tune.report=false", "tune.export=false",
]
"""A bandit small enough for a study to take seconds: 4 prompts, 8 arms, 40 steps, 2 seeds."""


def compose_tune(overrides: list[str], config_name: str = "tune/default") -> DictConfig:
    """Compose ``configs/<config_name>.yaml`` with the tiny overrides, then ``overrides``."""
    with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
        return compose(config_name=config_name, overrides=TINY + list(overrides))


def cli_args(overrides: list[str]) -> list[str]:
    """``python -m entropic.tuning.study.cli`` with the tiny overrides, then ``overrides`` (a real worker process)."""
    import sys

    return [sys.executable, "-m", "entropic.tuning.study.cli", *TINY, *overrides]
