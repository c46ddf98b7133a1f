"""Compose the real Hydra config tree in-process, the way entropic-train does."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

FAST = ["trainer.tensorboard=false", "trainer.checkpoint_every=0", "trainer.eval_every=0",
        "backend.num_prompts=8", "backend.group_size=4"]


@pytest.fixture
def make_config() -> Callable[..., DictConfig]:
    """``make_config(*overrides)``: the composed ``train`` config with small, fast defaults."""

    def make(*overrides: str) -> DictConfig:
        with initialize_config_module(config_module="entropic.configs", version_base="1.3"):
            return compose(config_name="train", overrides=[*FAST, *overrides])

    return make
