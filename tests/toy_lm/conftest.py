"""Tiny toy-LM configurations sharing one warm-start cache per test session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
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


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Run each toy-LM test on one intra-op thread, then restore the setting.

    The test models are tiny, so a second thread buys nothing, while OpenMP's spinning workers
    make a test 10-20x slower on a machine whose cores are busy with other work.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
