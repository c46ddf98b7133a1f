"""A tiny in-memory LLM backend and its parts, small enough for a CPU test."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from helpers import single_thread
from llm_tiny import TINY

from entropic.llm import HFBackend, HFConfig
from entropic.llm.model import tiny_model
from entropic.llm.tokenizer import character_tokenizer


@pytest.fixture
def make_backend() -> Callable[..., HFBackend]:
    """``make_backend(**overrides)``: an :class:`HFBackend` on :data:`TINY` with ``overrides``."""

    def make(seed: int = 0, **overrides: object) -> HFBackend:
        return HFBackend(HFConfig(**{**TINY, **overrides}), num_runs=1, seeds=[seed])

    return make


@pytest.fixture
def model_and_tokenizer():
    """The tiny model (seeded) and the character tokenizer, in float64 for tight comparisons."""
    tokenizer = character_tokenizer()
    model = tiny_model(HFConfig(**TINY), tokenizer).double().eval()
    return model, tokenizer


one_thread = pytest.fixture(autouse=True)(single_thread)
