"""The unlikeliness reward (He, Fried, Welleck, "Rewarding the Unlikely", arXiv 2506.02355).

GRPO reinforces the correct samples the policy already finds likely and neglects the rare
correct ones (rank bias), which sharpens the distribution and lowers pass@k at large k. The fix
reshapes the reward before GRPO's normalisation: within a group, samples are ranked by their
sequence log-likelihood under the sampling policy (rank 0 = most likely), and a correct sample's
reward is scaled by ``1 - beta_rank (G - 1 - rank) / G``, so the most likely correct sample is
penalised most and the least likely sample of the group not at all. ``beta_rank`` is
``advantage.beta_rank`` (:class:`~entropic.advantages.config.AdvantageConfig`, default 0.5).

Registered as the advantage estimator ``unlikeliness``
(``advantage.adv_estimator=unlikeliness``). Choices the paper's text leaves open, made here and
not checked against the authors' code: ranks are taken among all G samples of the group, ties go
to the earlier row, and groups with fewer than two correct samples are left unchanged.
"""

from __future__ import annotations

import dataclasses

import torch

from entropic.advantages.config import AdvantageConfig
from entropic.advantages.estimators import grpo
from entropic.advantages.registry import ADV_ESTIMATORS
from entropic.protocol import Rollout


def likelihood_rank(rollout: Rollout) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank of each response in its group by sequence log-likelihood, and the group sizes.

    Returns
    -------
    rank : LongTensor [B]
        0 for the group's most likely response (``sum_t old_log_probs * mask``), ties by row order.
    size : LongTensor [B]
        G, the size of each row's group.
    """
    seq_logp = (rollout.old_log_probs * rollout.mask).sum(-1)  # [B]
    _, group = torch.unique(rollout.group, return_inverse=True)
    order = torch.argsort(-seq_logp, stable=True)
    order = order[torch.argsort(group[order], stable=True)]  # by group, then most likely first
    counts = torch.bincount(group)
    starts = counts.cumsum(0) - counts
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel()) - starts[group[order]]
    return rank, counts[group]


def unlikeliness_rewards(rollout: Rollout, beta_rank: float) -> torch.Tensor:
    """Reshaped outcome rewards ``[B]``: ``r (1 - beta_rank (G - 1 - rank) / G)`` for correct (``r > 0``)
    responses in groups with at least two of them, ``r`` otherwise.

    Parameters
    ----------
    rollout : Rollout
        ``rewards`` [B] or [B, T], ``mask`` and ``old_log_probs`` [B, T] (the ranks), ``group`` [B].
    beta_rank : float
        The rank penalty, in ``[0, 1]``.

    Returns
    -------
    FloatTensor [B]
    """
    rewards = rollout.sequence_rewards()
    rank, size = likelihood_rank(rollout)
    correct = rewards > 0
    _, group = torch.unique(rollout.group, return_inverse=True)
    correct_count = torch.bincount(group, weights=correct.to(torch.float64))[group]  # [B]
    scale = 1.0 - beta_rank * (size - 1 - rank).to(rewards.dtype) / size.to(rewards.dtype)
    return torch.where(correct & (correct_count >= 2), rewards * scale, rewards)


@ADV_ESTIMATORS.register("unlikeliness")
def unlikeliness(rollout: Rollout, config: AdvantageConfig) -> torch.Tensor:
    """GRPO advantage ``[B, T]`` of the unlikeliness-reshaped rewards (rank penalty ``config.beta_rank``).

    Sampled rollouts only (the ranks need samples); ``norm_adv_by_std_in_grpo`` and ``epsilon``
    apply as in ``grpo``.
    """
    if rollout.weights is not None:
        raise ValueError("advantage.adv_estimator='unlikeliness' needs sampled responses (Rollout.weights is "
                         "set: an exact-expectation rollout has no sample ranks); use backend mode 'sampled'")
    return grpo(dataclasses.replace(rollout, rewards=unlikeliness_rewards(rollout, config.beta_rank)), config)
