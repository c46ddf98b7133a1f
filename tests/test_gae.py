"""GAE with decoupled and length-adaptive lambdas (VAPO, arXiv 2504.05118) and the clipped value loss.

Checked against a trajectory worked by hand, closed forms, and literal re-implementations of verl 0.9.1's
``compute_gae_advantage_return`` and ``compute_value_loss`` (one run, written from their formula text).
"""

from __future__ import annotations

import pytest
import torch

from entropic.advantages import AdvantageConfig, compute_advantages, critic_returns, generalized_advantages
from entropic.advantages.gae import length_adaptive_lambda
from entropic.critic import value_loss
from entropic.protocol import Rollout

F64 = torch.float64


def verl_gae(token_level_rewards: torch.Tensor, values: torch.Tensor, response_mask: torch.Tensor, gamma: float,
             lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """verl 0.9.1 ``compute_gae_advantage_return`` before its whitening: (advantages, returns)."""
    nextvalues = 0
    lastgaelam = 0
    advantages_reversed = []
    for t in reversed(range(token_level_rewards.shape[-1])):
        delta = token_level_rewards[:, t] + gamma * nextvalues - values[:, t]
        lastgaelam_ = delta + gamma * lam * lastgaelam
        nextvalues = values[:, t] * response_mask[:, t] + (1 - response_mask[:, t]) * nextvalues
        lastgaelam = lastgaelam_ * response_mask[:, t] + (1 - response_mask[:, t]) * lastgaelam
        advantages_reversed.append(lastgaelam)
    advantages = torch.stack(advantages_reversed[::-1], dim=1)
    return advantages, advantages + values


def verl_masked_whiten(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """verl ``masked_whiten``: unbiased masked variance, ``rsqrt(var + 1e-8)``."""
    mean = (values * mask).sum() / (mask.sum() + 1e-8)
    variance = ((values - mean) ** 2 * mask).sum() / (mask.sum() + 1e-8)
    variance = variance * mask.sum() / (mask.sum() - 1)
    return (values - mean) * torch.rsqrt(variance + 1e-8)


def verl_value_loss(vpreds: torch.Tensor, returns: torch.Tensor, values: torch.Tensor, response_mask: torch.Tensor,
                    cliprange_value: float) -> tuple[torch.Tensor, torch.Tensor]:
    """verl 0.9.1 ``compute_value_loss`` with ``loss_agg_mode="token-mean"``: (loss, clipfrac)."""
    vpredclipped = torch.clamp(vpreds, values - cliprange_value, values + cliprange_value)
    vf_losses1 = (vpreds - returns) ** 2
    vf_losses2 = (vpredclipped - returns) ** 2
    clipped_vf_losses = torch.max(vf_losses1, vf_losses2)
    vf_loss = 0.5 * (clipped_vf_losses * response_mask).sum() / (response_mask.sum() + 1e-8)
    vf_clipfrac = (torch.gt(vf_losses2, vf_losses1).float() * response_mask).sum() / (response_mask.sum() + 1e-8)
    return vf_loss, vf_clipfrac


def ragged(batch: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random token rewards, values and a mask with ragged ends and masked spans inside responses."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, length + 1, (batch,), generator=gen)
    mask = (torch.arange(length) < lengths.unsqueeze(-1)).to(F64)
    mask = mask * (torch.rand(batch, length, generator=gen, dtype=F64) > 0.25)  # observation spans
    rewards = torch.randn(batch, length, generator=gen, dtype=F64) * (torch.rand(batch, length, generator=gen) > 0.6)
    return rewards, torch.randn(batch, length, generator=gen, dtype=F64), mask


def rollout_of(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor) -> Rollout:
    batch, length = mask.shape
    return Rollout(tokens=torch.zeros(batch, length, dtype=torch.long), mask=mask, rewards=rewards,
                   group=torch.arange(batch), old_log_probs=torch.zeros(batch, length, dtype=F64), values=values)


def test_three_token_trajectory_worked_by_hand() -> None:
    # r = [0, 0, 1], V = [0.5, 0.6, 0.8], gamma 1, lambda 0.5:
    # delta = [0.6 - 0.5, 0.8 - 0.6, 1 - 0.8] = [0.1, 0.2, 0.2]
    # A_2 = 0.2, A_1 = 0.2 + 0.5 * 0.2 = 0.3, A_0 = 0.1 + 0.5 * 0.3 = 0.25; returns A + V = [0.75, 0.9, 1.0]
    rewards = torch.tensor([[0.0, 0.0, 1.0]], dtype=F64)
    values = torch.tensor([[0.5, 0.6, 0.8]], dtype=F64)
    mask = torch.ones(1, 3, dtype=F64)
    advantages, returns = generalized_advantages(rewards, values, mask, gamma=1.0, lam=0.5)
    torch.testing.assert_close(advantages, torch.tensor([[0.25, 0.3, 0.2]], dtype=F64))
    torch.testing.assert_close(returns, torch.tensor([[0.75, 0.9, 1.0]], dtype=F64))
    # lambda 1 gives Monte-Carlo returns, whatever the values; gamma 0.5 discounts them: [0.25, 0.5, 1]
    _, monte_carlo = generalized_advantages(rewards, values, mask, gamma=0.5, lam=1.0)
    torch.testing.assert_close(monte_carlo, torch.tensor([[0.25, 0.5, 1.0]], dtype=F64))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("gamma,lam", [(1.0, 1.0), (1.0, 0.95), (0.9, 0.5), (0.99, 0.0)])
def test_matches_verl_on_ragged_masks(seed: int, gamma: float, lam: float) -> None:
    rewards, values, mask = ragged(12, 7, seed)
    advantages, returns = generalized_advantages(rewards, values, mask, gamma, lam)
    ref_advantages, ref_returns = verl_gae(rewards, values, mask, gamma, lam)
    torch.testing.assert_close(advantages, ref_advantages, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(returns, ref_returns, rtol=1e-12, atol=1e-12)
    config = AdvantageConfig(adv_estimator="gae", gamma=gamma, lam=lam)
    torch.testing.assert_close(compute_advantages(rollout_of(rewards, values, mask), config),
                               verl_masked_whiten(ref_advantages, mask) * mask, rtol=1e-10, atol=1e-10)


def test_a_per_row_lambda_is_each_row_with_its_own() -> None:
    rewards, values, mask = ragged(6, 5, seed=9)
    lam = torch.tensor([0.0, 0.3, 0.5, 0.9, 1.0, 0.7], dtype=F64)
    advantages, returns = generalized_advantages(rewards, values, mask, 0.95, lam)
    for b in range(6):
        row_advantages, row_returns = verl_gae(rewards[b:b + 1], values[b:b + 1], mask[b:b + 1], 0.95, float(lam[b]))
        torch.testing.assert_close(advantages[b:b + 1], row_advantages, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(returns[b:b + 1], row_returns, rtol=1e-12, atol=1e-12)


def test_length_adaptive_lambda_closed_form() -> None:
    # 1 - 1 / (alpha L) at alpha 0.05: L = 40 -> 0.5, 100 -> 0.8, 1000 -> 0.98; below L = 20 it is clamped to 0
    lengths = torch.tensor([1000.0, 100.0, 40.0, 20.0, 5.0, 0.0], dtype=F64)
    expected = torch.tensor([0.98, 0.8, 0.5, 0.0, 0.0, 0.0], dtype=F64)
    torch.testing.assert_close(length_adaptive_lambda(lengths, 0.05), expected, rtol=1e-12, atol=1e-12)


def test_adaptive_policy_lambda_and_decoupled_critic_lambda() -> None:
    rewards, values, mask = ragged(8, 6, seed=3)
    rollout = rollout_of(rewards, values, mask)
    config = AdvantageConfig(adv_estimator="gae", gamma=1.0, lam=0.3, lam_alpha=0.25, lam_critic=1.0)
    per_row = (1 - 1 / (0.25 * mask.sum(-1).clamp(min=1))).clamp(0, 1)
    advantages, _ = generalized_advantages(rewards, values, mask, 1.0, per_row)
    expected = verl_masked_whiten(advantages, mask) * mask
    torch.testing.assert_close(compute_advantages(rollout, config), expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(critic_returns(rollout, config), verl_gae(rewards, values, mask, 1.0, 1.0)[1],
                               rtol=1e-12, atol=1e-12)
    coupled = AdvantageConfig(adv_estimator="gae", lam=0.3)  # lam_critic null: verl's one lambda
    torch.testing.assert_close(critic_returns(rollout, coupled), verl_gae(rewards, values, mask, 1.0, 0.3)[1],
                               rtol=1e-12, atol=1e-12)


def test_gae_needs_values_and_sampled_rows() -> None:
    rewards, values, mask = ragged(4, 3, seed=1)
    config = AdvantageConfig(adv_estimator="gae")
    with pytest.raises(ValueError, match="Rollout.values.*backend.critic=true"):
        compute_advantages(rollout_of(rewards, None, mask), config)
    weighted = rollout_of(rewards, values, mask)
    weighted.weights = torch.ones(4, dtype=F64)
    with pytest.raises(ValueError, match="weighted"):
        compute_advantages(weighted, config)


@pytest.mark.parametrize("cliprange", [0.05, 0.2, 10.0])
def test_value_loss_matches_verl_per_run(cliprange: float) -> None:
    gen = torch.Generator().manual_seed(11)
    old, returns = torch.randn(10, 4, generator=gen, dtype=F64), torch.randn(10, 4, generator=gen, dtype=F64)
    predicted = (old + 0.3 * torch.randn(10, 4, generator=gen, dtype=F64)).requires_grad_()
    _, _, mask = ragged(10, 4, seed=2)
    mask[0, 0] = 1.0
    run = torch.tensor([0, 1, 0, 1, 1, 0, 0, 1, 0, 1])
    loss, clipfrac = value_loss(predicted, old, returns, mask, cliprange, run, 2)
    for r in range(2):
        rows = run == r
        ref_loss, ref_clipfrac = verl_value_loss(predicted[rows], returns[rows], old[rows], mask[rows], cliprange)
        torch.testing.assert_close(loss[r], ref_loss, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(clipfrac[r], ref_clipfrac.to(F64), rtol=1e-6, atol=1e-6)
    if cliprange == 10.0:  # no clip: the gradient of 0.5 * mean (V - G)^2 is (V - G) / n (valid tokens n)
        loss.sum().backward()
        counts = torch.stack([mask[run == r].sum() for r in range(2)])[run].unsqueeze(-1)
        torch.testing.assert_close(predicted.grad, (predicted - returns).detach() * mask / counts,
                                   rtol=1e-8, atol=1e-12)  # masked_mean's +1e-8 guard
