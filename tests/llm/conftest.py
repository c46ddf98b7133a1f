"""A tiny in-memory LLM backend and its parts, small enough for a CPU test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch

from entropic.llm import HFBackend, HFConfig
from entropic.llm.model import tiny_model
from entropic.llm.tokenizer import character_tokenizer

TINY = dict(device="cpu", cache_dir="", n_layer=1, n_embd=32, n_head=4, n_kv_head=2, pretrain_steps=0,
            init_accuracy=0.0, num_prompts=4, group_size=4, max_new_tokens=5, num_train_problems=64,
            num_eval_problems=6, eval_samples=2, eval_k=[1, 2], task_args={"num_digits": 1, "num_operands": 2})
"""A one-layer model, no warm start: every test builds it in well under a second."""

PROMPTS = ["A1+2=", "S12,07,33=", "C3,4,7:025=", "A9+9="]
"""Prompts of unequal length, so left padding is exercised."""


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


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: the models are tiny and a busy machine's spinning workers only slow them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
