"""The unlikeliness reward: ranks by sequence likelihood, penalises the likely correct samples."""

from __future__ import annotations

import pytest
import torch

from entropic.advantages import AdvantageConfig, compute_advantages
from entropic.advantages.unlikeliness import likelihood_rank, unlikeliness_rewards
from entropic.protocol import Rollout


def rollout(rewards: list[float], seq_logp: list[float], group: list[int]) -> Rollout:
    B = len(rewards)
    log_probs = torch.tensor(seq_logp).view(B, 1) / 2
    return Rollout(tokens=torch.zeros(B, 2, dtype=torch.long), mask=torch.ones(B, 2), rewards=torch.tensor(rewards),
                   group=torch.tensor(group), old_log_probs=log_probs.expand(B, 2).clone())


def test_ranks_within_groups_most_likely_first() -> None:
    batch = rollout([1, 0, 1, 1, 1, 0], [-1.0, -0.5, -3.0, -2.0, -2.0, -9.0], [0, 0, 0, 1, 1, 1])
    rank, size = likelihood_rank(batch)
    assert rank.tolist() == [1, 0, 2, 0, 1, 2]  # ties keep row order
    assert size.tolist() == [3] * 6


def test_reshaped_rewards_closed_form() -> None:
    G = 4
    batch = rollout([1, 1, 0, 1, 1, 0, 0, 0], [-1.0, -2.0, -0.1, -3.0, -1.0, -2.0, -3.0, -4.0], [0] * G + [1] * G)
    reshaped = unlikeliness_rewards(batch, beta_rank=0.5)
    # group 0: ranks 1, 2, 0, 3 -> correct rows get 1 - 0.5 (G - 1 - rank) / G
    assert reshaped[:G].tolist() == pytest.approx([1 - 0.5 * 2 / G, 1 - 0.5 * 1 / G, 0.0, 1.0])
    assert reshaped[G:].tolist() == [1.0, 0.0, 0.0, 0.0]  # a single correct sample: left unchanged


def test_beta_rank_of_the_config_reaches_the_estimator() -> None:
    batch = rollout([1, 1, 0, 1], [-1.0, -2.0, -0.1, -3.0], [0, 0, 0, 0])
    config = AdvantageConfig(adv_estimator="unlikeliness", beta_rank=0.25, norm_adv_by_std_in_grpo=False)
    # ranks 1, 2, 0, 3: rewards 1 - 0.25 * 2/4 = 0.875, 1 - 0.25 * 1/4 = 0.9375, 0, 1; group mean 0.703125
    expected = torch.tensor([0.171875, 0.234375, -0.703125, 0.296875]).view(4, 1).expand(4, 2)
    assert torch.equal(compute_advantages(batch, config), expected)
    unchanged = AdvantageConfig(adv_estimator="unlikeliness", beta_rank=0.0, norm_adv_by_std_in_grpo=False)
    assert torch.equal(compute_advantages(batch, unchanged),
                       compute_advantages(batch, AdvantageConfig(norm_adv_by_std_in_grpo=False)))


def test_estimator_is_registered_and_refuses_weighted_rollouts() -> None:
    batch = rollout([1, 1, 0, 0], [-1.0, -2.0, -3.0, -4.0], [0, 0, 0, 0])
    advantages = compute_advantages(batch, AdvantageConfig(adv_estimator="unlikeliness"))
    assert advantages[1, 0] > advantages[0, 0] > 0 > advantages[2, 0]  # the rarer correct sample gets more
    weighted = rollout([1, 0], [-1.0, -2.0], [0, 0])
    weighted.weights = torch.tensor([1.0, 1.0])
    with pytest.raises(ValueError, match="sampled"):
        compute_advantages(weighted, AdvantageConfig(adv_estimator="unlikeliness"))
