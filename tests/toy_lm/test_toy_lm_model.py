"""The batched GPT: causality, the key/value cache, greedy = temperature -> 0, inverse-CDF sampling."""

from __future__ import annotations

import torch

from entropic.sims.rng import uniform
from entropic.sims.toy_lm.model import GPTConfig, forward, generate, init_params, response_logits, stack_runs
from entropic.sims.toy_lm.tasks import EOS, PAD

CONFIG = GPTConfig(vocab_size=24, block_size=16, n_layer=2, n_head=2, n_embd=16)


def _params(num_runs: int = 3, seed: int = 0, scale: float = 1.0) -> dict[str, torch.Tensor]:
    """Random runs whose parameters differ (so a mix-up between runs would show)."""
    generator = torch.Generator().manual_seed(seed)
    params = stack_runs(init_params(CONFIG, generator), num_runs, requires_grad=False)
    with torch.no_grad():
        for p in params.values():
            p.add_(torch.randn(p.shape, generator=generator) * 0.3 * scale)
    return params


def _prompts(num_runs: int, rows: int, length: int = 5, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(3, 24, (num_runs, rows, length), generator=generator)


def test_logits_are_causal() -> None:
    params, idx = _params(), _prompts(3, 4, length=10)
    logits, _ = forward(params, idx, CONFIG.n_head)
    changed = idx.clone()
    changed[:, :, 6] = (changed[:, :, 6] + 1) % 24
    other, _ = forward(params, changed, CONFIG.n_head)
    assert torch.equal(logits[:, :, :6], other[:, :, :6]) and not torch.allclose(logits[:, :, 6:], other[:, :, 6:])


def test_cached_steps_match_the_full_forward() -> None:
    params, idx = _params(), _prompts(3, 4, length=9)
    full, _ = forward(params, idx, CONFIG.n_head)
    head, cache = forward(params, idx[..., :5], CONFIG.n_head)
    pieces = [head]
    for t in range(5, 9):
        step, cache = forward(params, idx[..., t:t + 1], CONFIG.n_head, cache, start=t)
        pieces.append(step)
    assert torch.allclose(torch.cat(pieces, dim=2), full, atol=1e-5)


def test_generation_logits_and_log_probs_are_those_of_teacher_forcing() -> None:
    params, prompts = _params(scale=0.3), _prompts(3, 8)
    u = uniform(torch.tensor([1, 2, 3]), 0, 0, 8 * 7).view(3, 8, 7)
    sample = generate(params, prompts, 7, CONFIG.n_head, 0.7, u)
    scaled = response_logits(params, prompts, sample.tokens, CONFIG.n_head) / 0.7
    mask = sample.mask
    assert torch.allclose(sample.logits[mask], scaled[mask], atol=1e-5)
    log_probs = scaled.log_softmax(-1).gather(-1, sample.tokens.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(sample.log_probs[mask], log_probs[mask], atol=1e-5)


def test_responses_end_at_eos_then_pad_and_the_mask_includes_eos() -> None:
    params = _params(scale=0.3)
    with torch.no_grad():
        params["head.b"][:, EOS] += 1.5  # make <eos> likely
    prompts = _prompts(3, 32)
    sample = generate(params, prompts, 6, CONFIG.n_head, 1.0, uniform(torch.tensor([4, 5, 6]), 0, 0, 32 * 6).view(
        3, 32, 6))
    ended = (sample.tokens == EOS).any(-1)
    assert bool(ended.any()) and bool((~ended).any())
    for tokens, mask in zip(sample.tokens.view(-1, 6).tolist(), sample.mask.view(-1, 6).tolist(), strict=True):
        if EOS in tokens:
            end = tokens.index(EOS) + 1
            assert mask == [True] * end + [False] * (6 - end) and set(tokens[end:]) <= {PAD}
        else:
            assert all(mask)


def test_temperature_to_zero_is_greedy() -> None:
    params, prompts = _params(scale=0.5), _prompts(3, 16)
    greedy = generate(params, prompts, 6, CONFIG.n_head, 0.0)
    for seed in range(3):
        u = uniform(torch.tensor([seed, seed + 10, seed + 20]), 0, 0, 16 * 6).view(3, 16, 6)
        cold = generate(params, prompts, 6, CONFIG.n_head, 1e-4, u)
        assert torch.equal(cold.tokens, greedy.tokens) and torch.equal(cold.mask, greedy.mask)
    warm = generate(params, prompts, 6, CONFIG.n_head, 1.0, u)
    assert not torch.equal(warm.tokens, greedy.tokens)


def test_first_token_frequencies_follow_the_tempered_softmax() -> None:
    params = _params(num_runs=1, scale=0.3)
    n = 20000
    prompts = _prompts(1, 1).expand(1, n, 5)
    sample = generate(params, prompts, 1, CONFIG.n_head, 1.5, uniform(torch.tensor([9]), 0, 0, n).view(1, n, 1))
    probs = sample.logits[0, 0, 0].softmax(-1).double()
    frequencies = torch.bincount(sample.tokens[0, :, 0], minlength=24).double() / n
    assert float((frequencies - probs).abs().max()) < 4 * float((probs * (1 - probs) / n).sqrt().max())
