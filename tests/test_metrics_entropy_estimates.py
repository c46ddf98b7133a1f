"""Sampled-token and top-k entropy estimates: unbiasedness, the lower bound and the tail interval."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from entropic.metrics import entropy_from_logits, sampled_token_entropy, topk_entropy, topk_entropy_bounds


def _random_logits(rows: int, vocab: int, scale: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return scale * torch.randn(rows, vocab, generator=generator, dtype=torch.float64)


def test_sampled_token_entropy_is_minus_log_prob_and_detached() -> None:
    log_probs = -torch.rand(3, 4, dtype=torch.float64, requires_grad=True)
    estimate = sampled_token_entropy(log_probs)
    assert not estimate.requires_grad
    torch.testing.assert_close(estimate, -log_probs.detach())


def test_sampled_token_entropy_is_unbiased_for_on_policy_samples() -> None:
    logits = _random_logits(1, 12, scale=1.5, seed=3)[0]
    log_pi = torch.log_softmax(logits, -1)
    generator = torch.Generator().manual_seed(0)
    tokens = torch.multinomial(log_pi.exp(), 200_000, replacement=True, generator=generator)
    estimate = sampled_token_entropy(log_pi[tokens].view(1, -1))
    entropy = float(entropy_from_logits(logits))
    varentropy = float((log_pi.exp() * (log_pi + entropy) ** 2).sum())
    standard_error = math.sqrt(varentropy / tokens.numel())
    assert abs(float(estimate.mean()) - entropy) < 4 * standard_error


@pytest.mark.parametrize("k", [1, 2, 5, 17, 39])
def test_topk_entropy_is_renormalised_topk_entropy_and_a_lower_bound(k: int) -> None:
    logits = _random_logits(50, 40, scale=2.0, seed=k)
    probs = np.exp(logits.numpy())
    probs /= probs.sum(-1, keepdims=True)
    top = -np.sort(-probs, axis=-1)[:, :k]
    top /= top.sum(-1, keepdims=True)
    expected = -(top * np.log(top)).sum(-1)
    estimate = topk_entropy(logits, k)
    np.testing.assert_allclose(estimate.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert (estimate <= entropy_from_logits(logits) + 1e-12).all()


def test_topk_entropy_with_full_vocabulary_is_exact() -> None:
    logits = _random_logits(6, 25, scale=2.0, seed=0)
    torch.testing.assert_close(topk_entropy(logits, 25), entropy_from_logits(logits))
    bounds = topk_entropy_bounds(logits, 25)
    torch.testing.assert_close(bounds.lower, entropy_from_logits(logits))
    torch.testing.assert_close(bounds.upper, entropy_from_logits(logits))


def test_topk_entropy_casts_only_the_kept_logits() -> None:
    logits = _random_logits(4, 64, scale=2.0, seed=1).to(torch.bfloat16)
    assert topk_entropy(logits, 8).dtype == torch.float32
    assert topk_entropy_bounds(logits, 8).lower.dtype == torch.float32


def test_grouping_identity_behind_the_bounds() -> None:
    """``H = h(m) + m H_k + (1 - m) H_tail``, computed independently in numpy."""
    logits = _random_logits(20, 30, scale=2.0, seed=5)
    k = 6
    probs = np.exp(logits.numpy())
    probs /= probs.sum(-1, keepdims=True)
    ordered = -np.sort(-probs, axis=-1)
    mass = ordered[:, :k].sum(-1)
    tail = ordered[:, k:] / (1 - mass)[:, None]
    tail_entropy = -(tail * np.log(tail)).sum(-1)
    binary = -mass * np.log(mass) - (1 - mass) * np.log(1 - mass)
    recomposed = binary + mass * topk_entropy(logits, k).numpy() + (1 - mass) * tail_entropy
    np.testing.assert_allclose(recomposed, entropy_from_logits(logits).numpy(), rtol=1e-10)


@pytest.mark.parametrize("scale", [0.3, 2.0, 8.0])
@pytest.mark.parametrize("k", [1, 3, 10, 99])
def test_bounds_contain_the_exact_entropy(scale: float, k: int) -> None:
    logits = _random_logits(200, 100, scale=scale, seed=int(10 * scale) + k)
    entropy = entropy_from_logits(logits)
    lower, upper = topk_entropy_bounds(logits, k)
    tail_mass = 1 - torch.softmax(logits, -1).topk(k, -1).values.sum(-1)
    assert (lower <= entropy + 1e-12).all() and (entropy <= upper + 1e-12).all()
    assert (lower >= topk_entropy(logits, k) - 1e-12).all()
    assert (upper - lower <= tail_mass * math.log(100 - k) + 1e-12).all()


def test_bounds_are_tight_for_a_peaked_distribution() -> None:
    logits = _random_logits(10, 1000, scale=1.0, seed=2)
    logits[:, :4] += 15.0  # four tokens carry almost all the mass
    lower, upper = topk_entropy_bounds(logits, 4)
    assert float((upper - lower).max()) < 1e-2


@pytest.mark.parametrize("k", [0, 11])
def test_k_outside_the_vocabulary_is_rejected(k: int) -> None:
    with pytest.raises(ValueError, match="k must lie"):
        topk_entropy(torch.zeros(2, 10), k)
    with pytest.raises(ValueError, match="k must lie"):
        topk_entropy_bounds(torch.zeros(2, 10), k)
