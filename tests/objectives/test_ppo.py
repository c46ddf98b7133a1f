"""Vanilla PPO (Clip-Higher, dual clip): hand-worked values, verl reference, gradients, closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from objectives_ref import batch_of, random_batch, ref_agg, ref_vanilla

from entropic.control import Control
from entropic.objectives import AGG_MODES, POLICY_LOSSES, Objective, ObjectiveConfig, PolicyBatch

VANILLA = POLICY_LOSSES.get("vanilla").fn
DAPO = Control(clip_ratio_low=0.2, clip_ratio_high=0.28, clip_ratio_c=3.0)

# 2 x 3 hand-worked batch: old_logp = 0, logp = log(ratio); row 0 has A = 0.5, row 1 A = -2.
RATIOS = torch.tensor([[1.0, 1.25, 1.5], [0.5, 2.0, 4.0]], dtype=torch.float64)
ADV = torch.tensor([[0.5, 0.5, 0.5], [-2.0, -2.0, -2.0]], dtype=torch.float64)
# row 0: -0.5*1 ; -0.5*1.25 (inside 1.28) ; -0.5*1.28 (clipped high)
# row 1: max(1.0, 2*0.8)=1.6 (clipped low) ; max(4, 2.56)=4 ; min(2*3, max(8, 2.56))=6 (dual clip)
HAND_LOSS = torch.tensor([[-0.5, -0.625, -0.64], [1.6, 4.0, 6.0]], dtype=torch.float64)
# d L / d logp = -A * ratio where L1 is active, 0 where the clip or the dual clip holds; token-mean / 6
HAND_GRAD = torch.tensor([[-0.5, -0.625, 0.0], [0.0, 4.0, 0.0]], dtype=torch.float64) / 6


def _hand_batch() -> PolicyBatch:
    return batch_of(torch.log(RATIOS).requires_grad_(), torch.zeros_like(RATIOS), ADV)


def test_hand_worked_per_token_loss_and_clip_fractions() -> None:
    out = VANILLA(_hand_batch(), DAPO)
    torch.testing.assert_close(out.token_loss, HAND_LOSS)
    m = out.metrics
    torch.testing.assert_close(m["actor/pg_clipfrac"], torch.tensor([2 / 6], dtype=torch.float64))
    torch.testing.assert_close(m["actor/pg_clipfrac_lower"], torch.tensor([1 / 6], dtype=torch.float64))
    torch.testing.assert_close(m["actor/ppo_kl"], torch.tensor([-math.log(7.5) / 6], dtype=torch.float64))


def test_hand_worked_symmetric_clip() -> None:
    out = VANILLA(_hand_batch(), DAPO.replace(clip_ratio_high=0.2))
    expected = HAND_LOSS.clone()
    expected[0, 1:] = -0.5 * 1.2
    torch.testing.assert_close(out.token_loss, expected)
    torch.testing.assert_close(out.metrics["actor/pg_clipfrac"], torch.tensor([3 / 6], dtype=torch.float64))


def test_hand_worked_token_mean_value_and_gradient() -> None:
    batch = _hand_batch()
    loss, metrics = Objective()(batch, DAPO)
    torch.testing.assert_close(loss, torch.tensor([9.835 / 6], dtype=torch.float64))
    loss.sum().backward()
    torch.testing.assert_close(batch.log_probs.grad, HAND_GRAD)


@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize(("B", "T", "seed"), [(1, 1, 0), (3, 5, 1), (8, 16, 2), (5, 9, 3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_verl_reference(mode: str, B: int, T: int, seed: int, dtype: torch.dtype) -> None:
    control = Control(clip_ratio_low=0.2, clip_ratio_high=0.28, clip_ratio_c=2.0)
    batch = random_batch(B, T, seed, dtype, empty_row=B > 2, token_adv=seed % 2 == 1, spread=0.6)
    loss, metrics = Objective(ObjectiveConfig(loss_agg_mode=mode))(batch, control)
    (grad,) = torch.autograd.grad(loss.sum(), batch.log_probs)

    logp = batch.log_probs.detach().clone().requires_grad_()
    ref_tok, ref_metrics = ref_vanilla(logp, batch.old_log_probs, batch.advantages, batch.mask, 0.2, 0.28, 2.0)
    ref_loss = ref_agg(ref_tok, batch.mask, mode)
    (ref_grad,) = torch.autograd.grad(ref_loss, logp)

    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {}
    torch.testing.assert_close(loss, ref_loss.reshape(1), **tol)
    torch.testing.assert_close(grad, ref_grad, **tol)
    torch.testing.assert_close(VANILLA(batch, control).token_loss, ref_tok, **tol)
    for key, value in ref_metrics.items():
        torch.testing.assert_close(metrics[key], value.reshape(1), **tol)


def _away_from_kinks(B: int, T: int, seed: int, kinks: tuple[float, ...]) -> torch.Tensor:
    """Ratios in [0.3, 5] at least 0.02 away from every kink."""
    g = torch.Generator().manual_seed(seed)
    ratio = 0.3 + 4.7 * torch.rand(B, T, generator=g, dtype=torch.float64)
    for k in kinks:
        ratio = torch.where((ratio - k).abs() < 0.02, ratio + 0.05, ratio)
    return ratio


@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("seed", [0, 1])
def test_gradcheck_away_from_clip_kinks(mode: str, seed: int) -> None:
    B, T = 3, 4
    ratio = _away_from_kinks(B, T, seed, (0.8, 1.28, 3.0))
    old = -torch.rand(B, T, generator=torch.Generator().manual_seed(seed + 10), dtype=torch.float64)
    adv = torch.randn(B, T, generator=torch.Generator().manual_seed(seed + 20), dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.float64)
    mask[1, 2:] = 0.0
    objective = Objective(ObjectiveConfig(loss_agg_mode=mode))

    def fn(logp: torch.Tensor) -> torch.Tensor:
        return objective(batch_of(logp, old, adv, mask), DAPO)[0]

    assert torch.autograd.gradcheck(fn, ((old + torch.log(ratio)).requires_grad_(),))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ratio_one_gives_minus_advantage_and_reinforce_gradient(seed: int) -> None:
    batch = random_batch(4, 6, seed, empty_row=True, token_adv=True)
    on_policy = batch_of(batch.log_probs, batch.log_probs.detach(), batch.advantages, batch.mask)
    out = VANILLA(on_policy, DAPO)
    assert torch.equal(out.token_loss, -batch.advantages)
    assert torch.equal(out.metrics["actor/pg_clipfrac"], torch.zeros(1, dtype=torch.float64))
    loss, _ = Objective()(on_policy, DAPO)
    (grad,) = torch.autograd.grad(loss.sum(), batch.log_probs)
    torch.testing.assert_close(grad, -batch.advantages * batch.mask / batch.mask.sum())


def test_clip_higher_changes_only_positive_tokens_above_one_plus_eps_low() -> None:
    g = torch.Generator().manual_seed(5)
    ratio = torch.cat([torch.linspace(0.5, 1.6, 221, dtype=torch.float64), torch.tensor([1.2, 1.28])])
    adv = torch.randn(ratio.shape, generator=g, dtype=torch.float64)
    adv[::3] = 0.0
    ratio, adv = ratio.unsqueeze(0), adv.unsqueeze(0)

    def loss_and_grad(eps_high: float) -> tuple[torch.Tensor, torch.Tensor]:
        logp = torch.log(ratio).requires_grad_()
        tok = VANILLA(batch_of(logp, torch.zeros_like(ratio), adv), DAPO.replace(clip_ratio_high=eps_high))
        (grad,) = torch.autograd.grad(tok.token_loss.sum(), logp)
        return tok.token_loss.detach(), grad

    loss_20, grad_20 = loss_and_grad(0.2)
    loss_28, grad_28 = loss_and_grad(0.28)
    above = (adv > 0) & (ratio > 1.2)
    window = above & (ratio <= 1.28)
    assert window.sum() >= 5 and (above & ~window).sum() >= 5
    # values: equal off `above`; on it eps 0.2 caps the ratio at 1.2, eps 0.28 at min(ratio, 1.28)
    assert torch.equal(loss_20[~above], loss_28[~above])
    torch.testing.assert_close(loss_20[above], -adv[above] * 1.2)
    torch.testing.assert_close(loss_28[above], -adv[above] * torch.clamp(ratio[above], max=1.28))
    # gradients: only the window (1.2, 1.28] with A > 0 differs, and there eps 0.2 froze the token
    assert torch.equal(grad_20[~window], grad_28[~window])
    assert torch.equal(grad_20[window], torch.zeros_like(grad_20[window]))
    torch.testing.assert_close(grad_28[window], -adv[window] * ratio[window])


@pytest.mark.parametrize("c", [1.5, 3.0, 10.0])
def test_dual_clip_is_constant_with_zero_gradient(c: float) -> None:
    ratio = torch.tensor([[0.5, 1.0, c - 0.01, c + 0.01, c + 1.0, 40.0]], dtype=torch.float64)
    adv = torch.full_like(ratio, -0.7)
    logp = torch.log(ratio).requires_grad_()
    out = VANILLA(batch_of(logp, torch.zeros_like(ratio), adv), DAPO.replace(clip_ratio_c=c))
    (grad,) = torch.autograd.grad(out.token_loss.sum(), logp)
    over = ratio > c
    torch.testing.assert_close(out.token_loss[over], torch.full_like(ratio[over], 0.7 * c))
    assert torch.equal(grad[over], torch.zeros_like(grad[over]))
    # just below c the unclipped -A * ratio still holds, with its gradient
    torch.testing.assert_close(out.token_loss[0, 2], 0.7 * ratio[0, 2])
    torch.testing.assert_close(grad[0, 2], 0.7 * ratio[0, 2])
    torch.testing.assert_close(out.metrics["actor/pg_clipfrac_lower"],
                               torch.tensor([over.double().mean()], dtype=torch.float64))


def test_dual_clip_ignores_positive_advantages() -> None:
    ratio = torch.tensor([[5.0]], dtype=torch.float64)
    out = VANILLA(batch_of(torch.log(ratio), torch.zeros_like(ratio), torch.ones_like(ratio)), DAPO)
    torch.testing.assert_close(out.token_loss, torch.tensor([[-1.28]], dtype=torch.float64))
    assert out.metrics["actor/pg_clipfrac_lower"] == 0.0


def test_log_ratio_clamped_at_20() -> None:
    logp = torch.tensor([[25.0, -25.0]], dtype=torch.float64)
    adv = torch.tensor([[-1.0, 1.0]], dtype=torch.float64)
    out = VANILLA(batch_of(logp, torch.zeros_like(logp), adv), DAPO.replace(clip_ratio_c=1e12))
    # A < 0: |A| * e^20 (not e^25) below the huge dual clip; A > 0: max(-e^-20, -0.8)
    expected = torch.tensor([[math.exp(20.0), -math.exp(-20.0)]], dtype=torch.float64)
    torch.testing.assert_close(out.token_loss, expected, rtol=1e-12, atol=0.0)


def test_zero_advantage_tokens_dilute_token_mean() -> None:
    logp = torch.zeros(2, 2, dtype=torch.float64)
    adv = torch.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    loss, _ = Objective()(batch_of(logp, logp, adv), DAPO)
    torch.testing.assert_close(loss, torch.tensor([-0.5], dtype=torch.float64))
