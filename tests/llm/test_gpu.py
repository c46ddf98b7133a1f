"""On a GPU (skipped without CUDA): bfloat16 training steps, and scoring that never holds [B, T, V] in float32."""

from __future__ import annotations

import math

import pytest
import torch
from llm_tiny import TINY

from entropic.llm import HFBackend, HFConfig
from entropic.llm.scoring import response_hidden, token_stats

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
GPU = {**TINY, "device": "cuda"}


def test_bfloat16_steps_are_finite_and_score_close_to_float32() -> None:
    half = HFBackend(HFConfig(**{**GPU, "dtype": "bfloat16"}), seeds=[0])
    full = HFBackend(HFConfig(**GPU), seeds=[0])
    rollout = full.rollout()
    exact = full.score(rollout, "detached")
    approx = half.score(rollout, "detached")
    valid = rollout.mask > 0
    assert approx.log_probs.dtype == torch.float32  # the LM head's blocks are cast up
    assert (approx.log_probs - exact.log_probs)[valid].abs().max() < 0.1
    for _ in range(3):
        step = half.rollout()
        stats = half.score(step, "grad")
        half.backward((-(stats.log_probs * step.mask).sum() - stats.entropy.sum()).reshape(1))
        assert math.isfinite(float(half.step()["grad/norm"]))


def test_scoring_in_blocks_never_holds_the_full_float32_logits() -> None:
    vocab, rows = 32_000, 64
    backend = HFBackend(HFConfig(**{**GPU, "max_new_tokens": 32, "num_prompts": 8, "group_size": 8}), seeds=[0])
    head = torch.nn.Linear(backend.model.config.hidden_size, vocab, bias=False, device="cuda")
    rollout = backend.rollout()
    tokens = torch.randint(0, vocab, rollout.tokens.shape, device="cuda")
    mask = torch.ones_like(rollout.mask)
    hidden = response_hidden(backend.model, rollout.prompts, rollout.prompt_mask, rollout.tokens, mask)
    full_bytes = mask.numel() * vocab * 4
    torch.cuda.reset_peak_memory_stats()
    start = torch.cuda.memory_allocated()
    log_probs, entropy = token_stats(hidden, tokens, mask, head, 1.0, "grad", chunk_rows=rows)
    (log_probs.sum() + entropy.sum()).backward()
    peak = torch.cuda.max_memory_allocated() - start
    assert peak < full_bytes / 4, (peak, full_bytes)
