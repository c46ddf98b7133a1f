"""Tiny toy-LM configurations sharing one warm-start cache per test session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import single_thread
from toy_lm_steps import TINY

from entropic.sims.toy_lm import ToyLMConfig


@pytest.fixture(scope="session")
def warm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's warm-start cache directory."""
    return tmp_path_factory.mktemp("toy_lm_cache")


@pytest.fixture(scope="session")
def tiny(warm_cache: Path) -> Callable[..., ToyLMConfig]:
    """``tiny(**overrides)``: the :data:`TINY` config (with the session cache) and any changes."""

    def make(**overrides: object) -> ToyLMConfig:
        return ToyLMConfig(**{**TINY, "cache_dir": str(warm_cache), **overrides})

    return make


one_thread = pytest.fixture(autouse=True)(single_thread)
