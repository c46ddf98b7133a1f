"""Sampling G responses per prompt with ``generate``, and the sampler's own log-probs.

The sampler draws from ``softmax(z / temperature)`` restricted to the top-``p`` nucleus and
renormalised, and nothing else: the logits processors are passed explicitly, so a model's own
``generation_config`` (top-k, repetition penalty, ...) cannot change the distribution the objective
assumes. ``sample_log_probs`` are that nucleus distribution's log-probs of the sampled tokens,
recorded during generation; ``old_log_probs`` (the backend's teacher-forced pass) are those of the full
tempered distribution, so the two agree when ``top_p = 1`` and differ by ``-log(nucleus mass)`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedModel,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

from entropic.metrics.entropy import compute_dtype


@dataclass(frozen=True)
class Sample:
    """Sampled responses.

    Attributes
    ----------
    tokens : LongTensor [B, T]
        Response tokens, padded after the end of each response (``T = max_new_tokens``).
    mask : FloatTensor [B, T]
        1 up to and including the first EOS token (all generated tokens when there is none).
    log_probs : FloatTensor [B, T]
        The sampler's log-probs of ``tokens`` (0 on padding).
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    log_probs: torch.Tensor


class _SampledLogProbs(LogitsProcessor):
    """Last in the processor chain: keeps the processed distribution of the previous position and reads
    the log-prob of the token sampled from it, which the next call finds at the end of ``input_ids``."""

    def __init__(self) -> None:
        self.pending: torch.Tensor | None = None  # [B, V] log-softmax of the last processed scores
        self.values: list[torch.Tensor] = []  # [B] per generated position

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.collect(input_ids[:, -1])
        self.pending = torch.log_softmax(scores.to(compute_dtype(scores.dtype)), dim=-1)
        return scores

    def collect(self, tokens: torch.Tensor) -> None:
        if self.pending is not None:
            self.values.append(self.pending.gather(-1, tokens.unsqueeze(-1)).squeeze(-1))
            self.pending = None


def response_mask(tokens: torch.Tensor, eos_token_id: int) -> torch.Tensor:
    """FloatTensor [B, T]: 1 up to and including each row's first ``eos_token_id``."""
    is_eos = (tokens == eos_token_id).long()
    before_or_at_first = (is_eos.cumsum(-1) - is_eos) == 0
    return before_or_at_first.float()


def sample(model: PreTrainedModel, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, *, max_new_tokens: int,
           temperature: float, top_p: float, eos_token_id: int, pad_token_id: int) -> Sample:
    """Sample one response per row of the left-padded ``prompt_ids`` ``[B, P]`` (mask ``prompt_mask``)."""
    recorder = _SampledLogProbs()
    processors = LogitsProcessorList([TemperatureLogitsWarper(temperature)] if temperature != 1.0 else [])
    if top_p < 1.0:
        processors.append(TopPLogitsWarper(top_p))
    processors.append(recorder)
    settings = GenerationConfig(do_sample=True, max_new_tokens=max_new_tokens, temperature=1.0, top_k=0,
                                top_p=1.0, eos_token_id=eos_token_id, pad_token_id=pad_token_id)
    sequences = model.generate(input_ids=prompt_ids, attention_mask=prompt_mask, generation_config=settings,
                               logits_processor=processors)
    tokens = sequences[:, prompt_ids.shape[1]:]
    recorder.collect(tokens[:, -1])
    log_probs = torch.stack(recorder.values, dim=-1)
    width = tokens.shape[1]
    if width < max_new_tokens:  # every row ended early
        tokens = torch.nn.functional.pad(tokens, (0, max_new_tokens - width), value=pad_token_id)
        log_probs = torch.nn.functional.pad(log_probs, (0, max_new_tokens - width))
    mask = response_mask(tokens, eos_token_id)
    return Sample(tokens, mask, log_probs * mask)
