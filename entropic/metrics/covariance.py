"""The batch covariance of log-prob and advantage: the sensor form of the entropy-change law.

The Entropy Mechanism (Cui et al., arXiv 2505.22617): to first order a policy step changes
entropy by ``-Cov(log pi, logit step)``, and for a natural-gradient-like step the logit step is
the advantage, so a positive ``Cov(log pi, A)`` over the sampled tokens predicts falling entropy.
This is the batch estimate of that covariance, the mean of the per-token terms that Clip-Cov and
KL-Cov rank.
"""

from __future__ import annotations

import torch

from entropic.objectives.batch import PolicyBatch
from entropic.objectives.covariance import token_covariance
from entropic.reduce import masked_mean_per_run


def logp_advantage_covariance(log_probs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                              run: torch.Tensor, num_runs: int,
                              weights: torch.Tensor | None = None) -> torch.Tensor:
    """Covariance of log-prob and advantage over each run's valid tokens.

    Parameters
    ----------
    log_probs : FloatTensor [B, T]
        ``log pi(y_t)`` of the sampled tokens (read detached).
    advantages : FloatTensor [B, T]
        Token advantages.
    mask : FloatTensor [B, T]
        Valid tokens (0/1).
    run : LongTensor [B]
        Run of each row.
    num_runs : int
        R.
    weights : FloatTensor [B], optional
        Row weights of an exact-expectation rollout (``Rollout.weights``); ``None`` = 1.

    Returns
    -------
    FloatTensor [R]
        ``mean_valid[(logp - mean_valid logp) * (A - mean_valid A)]``, detached: the population
        covariance (divided by ``N``, not ``N - 1``), the masked mean of
        :func:`entropic.objectives.covariance.token_covariance` with verl's ``+1e-8`` guard
        (0 for a run without valid tokens).
    """
    batch = PolicyBatch(log_probs=log_probs, old_log_probs=log_probs.detach(), advantages=advantages,
                        mask=mask, run=run, num_runs=num_runs, weights=weights)
    terms = token_covariance(batch)  # [B, T]
    return masked_mean_per_run(terms, batch.weighted_mask, run, num_runs).detach()
