"""Batch log-prob/advantage covariance against numpy.cov, run by run."""

from __future__ import annotations

import numpy as np
import torch

from entropic.metrics import logp_advantage_covariance

NUM_RUNS = 3


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    log_probs = -2.0 * torch.rand(15, 6, generator=generator, dtype=torch.float64)
    advantages = torch.randn(15, 6, generator=generator, dtype=torch.float64) + 0.5 * log_probs
    mask = (torch.rand(15, 6, generator=generator) < 0.75).double()
    run = torch.arange(15) % NUM_RUNS
    return log_probs, advantages, mask, run


def test_matches_numpy_population_covariance_per_run() -> None:
    log_probs, advantages, mask, run = _batch()
    covariance = logp_advantage_covariance(log_probs, advantages, mask, run, NUM_RUNS)
    for r in range(NUM_RUNS):
        valid = (mask[run == r] > 0).numpy()
        x = log_probs[run == r].numpy()[valid]
        y = advantages[run == r].numpy()[valid]
        np.testing.assert_allclose(covariance[r].item(), np.cov(x, y, bias=True)[0, 1], rtol=1e-7)


def test_row_weights_give_the_weighted_covariance() -> None:
    log_probs, advantages, mask, run = _batch(seed=1)
    weights = torch.rand(15, generator=torch.Generator().manual_seed(2), dtype=torch.float64) + 0.1
    covariance = logp_advantage_covariance(log_probs, advantages, mask, run, NUM_RUNS, weights=weights)
    for r in range(NUM_RUNS):
        rows = run == r
        valid = (mask[rows] > 0).numpy()
        token_weights = np.broadcast_to(weights[rows].numpy()[:, None], valid.shape)[valid]
        x, y = log_probs[rows].numpy()[valid], advantages[rows].numpy()[valid]
        expected = np.cov(x, y, bias=True, aweights=token_weights)[0, 1]
        np.testing.assert_allclose(covariance[r].item(), expected, rtol=1e-7)


def test_is_detached_and_independent_of_other_runs() -> None:
    log_probs, advantages, mask, run = _batch(seed=3)
    batched = logp_advantage_covariance(log_probs.requires_grad_(), advantages, mask, run, NUM_RUNS)
    assert not batched.requires_grad
    rows = run == 2
    alone = logp_advantage_covariance(log_probs[rows], advantages[rows], mask[rows],
                                      torch.zeros(int(rows.sum()), dtype=torch.long), 1)
    torch.testing.assert_close(batched[2:], alone)


def test_empty_run_gives_zero() -> None:
    log_probs, advantages, mask, run = _batch()
    mask[run == 0] = 0.0
    assert logp_advantage_covariance(log_probs, advantages, mask, run, NUM_RUNS)[0] == 0.0
