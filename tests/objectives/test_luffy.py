"""LUFFY: the shaping's gradient by finite differences, the mixed loss against PPO and a hand-worked batch."""

from __future__ import annotations

import math

import pytest
import torch
from objectives_ref import ref_vanilla

from entropic.advantages import AdvantageConfig, compute_advantages
from entropic.control import Control
from entropic.objectives import Objective, ObjectiveConfig, PolicyBatch
from entropic.objectives.luffy import shaped_ratio
from entropic.protocol import Rollout

F64 = torch.float64


def _shaped_loss(log_p: float, advantage: float, gamma: float, old: float = 0.0) -> float:
    """``-A f(r)`` of one token, ``f(r) = r / (r + gamma)``, ``r = exp(log_p - old)``, written out."""
    r = math.exp(log_p - old)
    return -advantage * r / (r + gamma)


@pytest.mark.parametrize("gamma", [0.1, 0.5, 2.0])
@pytest.mark.parametrize("log_p", [-6.0, -2.3, -0.4, -1e-3])
def test_shaping_gradient_matches_finite_differences_and_its_closed_form(gamma: float, log_p: float) -> None:
    advantage = 0.7
    logp = torch.tensor([[log_p]], dtype=F64, requires_grad=True)
    loss = -advantage * shaped_ratio(logp, torch.zeros(1, 1, dtype=F64), gamma)
    loss.sum().backward()
    h = 1e-6
    numeric = (_shaped_loss(log_p + h, advantage, gamma) - _shaped_loss(log_p - h, advantage, gamma)) / (2 * h)
    p = math.exp(log_p)
    closed = -advantage * gamma * p / (p + gamma) ** 2  # dL/dlogp = -A gamma r / (r + gamma)^2
    assert float(loss.detach()) == pytest.approx(_shaped_loss(log_p, advantage, gamma), rel=1e-12)
    assert float(logp.grad) == pytest.approx(numeric, rel=1e-7, abs=1e-12)
    assert float(logp.grad) == pytest.approx(closed, rel=1e-12, abs=1e-15)


def test_shaping_weights_rare_tokens_most_and_stays_finite_far_off_policy() -> None:
    gamma = 0.1
    p = torch.tensor([[1e-4, gamma, 0.9]], dtype=F64)
    logp = p.log().requires_grad_()
    shaped_ratio(logp, torch.zeros_like(logp), gamma).sum().backward()
    slope = logp.grad[0]
    assert slope[1] > slope[0] and slope[1] > slope[2]  # the peak of gamma r / (r + gamma)^2 is at r = gamma
    assert float(slope[1]) == pytest.approx(0.25)
    # a demonstrator log-prob far below the policy's: r = e^60 overflows exp, not the sigmoid
    far = shaped_ratio(torch.tensor([[0.0]], dtype=F64), torch.tensor([[-60.0]], dtype=F64), gamma)
    assert float(far) == pytest.approx(1.0) and torch.isfinite(far).all()


def _batch(off_policy: list[bool] | None, run: list[int] | None = None) -> PolicyBatch:
    """Four rows of two tokens: ratios far from 1 (clipping acts on samples), the last token of row 3 padding."""
    logp = torch.tensor([[-0.2, -1.5], [-0.9, -0.1], [-2.0, -0.3], [-0.05, -3.0]], dtype=F64, requires_grad=True)
    old = torch.tensor([[-0.8, -1.0], [-0.2, -0.6], [0.0, 0.0], [0.0, 0.0]], dtype=F64)
    advantages = torch.tensor([[1.0, 1.0], [-0.5, -0.5], [1.5, 1.5], [-1.0, -1.0]], dtype=F64)
    mask = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 0.0]], dtype=F64)
    runs = torch.tensor(run or [0, 0, 0, 0])
    return PolicyBatch(log_probs=logp, old_log_probs=old, advantages=advantages, mask=mask, run=runs,
                       num_runs=int(runs.max()) + 1,
                       off_policy=None if off_policy is None else torch.tensor(off_policy))


def test_without_demonstrations_the_loss_is_the_vanilla_one() -> None:
    control = Control()
    luffy, _ = Objective(ObjectiveConfig(policy_loss="luffy"))(_batch(None), control)
    vanilla, _ = Objective(ObjectiveConfig(policy_loss="vanilla"))(_batch(None), control)
    none_off, _ = Objective(ObjectiveConfig(policy_loss="luffy"))(_batch([False] * 4), control)
    assert torch.equal(luffy, vanilla) and torch.equal(none_off, vanilla)


def test_mixed_batch_hand_worked_loss_gradient_and_metrics() -> None:
    # rows 0, 1: samples (PPO clip, eps 0.2, dual clip 3); rows 2, 3: demonstrations (shaping, gamma 0.1)
    batch = _batch([False, False, True, True])
    control = Control(off_policy_gamma=0.1)
    loss, metrics = Objective(ObjectiveConfig(policy_loss="luffy"))(batch, control)
    logp, old, A, mask = (t.detach() for t in (batch.log_probs, batch.old_log_probs, batch.advantages, batch.mask))
    ppo, _ = ref_vanilla(logp[:2], old[:2], A[:2], mask[:2], 0.2, 0.2, 3.0)
    p = logp[2:].exp()
    shaped = -A[2:] * p / (p + 0.1)  # no clip: row 2's ratio exp(-2) and row 3's exp(-0.05) both pass as they are
    expected = ((ppo * mask[:2]).sum() + (shaped * mask[2:]).sum()) / mask.sum()
    torch.testing.assert_close(loss, expected.reshape(1), rtol=1e-12, atol=1e-15)
    loss.sum().backward()
    grad = batch.log_probs.grad
    closed = -A[2:] * 0.1 * p / (p + 0.1) ** 2 * mask[2:] / mask.sum()
    torch.testing.assert_close(grad[2:], closed, rtol=1e-12, atol=1e-15)
    # row 0 is clipped (ratio e^0.6 > 1.2 with A > 0): no gradient; row 1's first token (ratio e^-0.7 < 0.8,
    # A < 0) too; the other sample tokens pass -A r / N
    assert grad[0, 0] == 0 and grad[1, 0] == 0 and grad[0, 1] != 0
    assert float(metrics["actor/off_policy_frac"]) == pytest.approx(3 / 7)
    assert float(metrics["actor/off_policy_prob"]) == pytest.approx(float((p * mask[2:]).sum() / 3))
    assert float(metrics["actor/pg_clipfrac"]) == pytest.approx(2 / 4)  # over the samples' 4 tokens only


def test_gamma_per_run_and_runs_kept_apart() -> None:
    batch = _batch([False, True, False, True], run=[0, 0, 1, 1])
    gammas = torch.tensor([0.1, 0.5], dtype=F64)
    both, _ = Objective(ObjectiveConfig(policy_loss="luffy"))(batch, Control(off_policy_gamma=gammas))
    for r, gamma in enumerate((0.1, 0.5)):
        rows = torch.tensor([2 * r, 2 * r + 1])
        alone = PolicyBatch(log_probs=batch.log_probs[rows], old_log_probs=batch.old_log_probs[rows],
                            advantages=batch.advantages[rows], mask=batch.mask[rows],
                            run=torch.zeros(2, dtype=torch.long), off_policy=batch.off_policy[rows])
        loss, _ = Objective(ObjectiveConfig(policy_loss="luffy"))(alone, Control(off_policy_gamma=gamma))
        torch.testing.assert_close(both[r], loss[0], rtol=1e-12, atol=1e-15)


def test_mixed_policy_advantage_takes_group_statistics_over_samples_and_demonstrations() -> None:
    # one group: a demonstration (reward 1) and three samples (1, 0, 0): mean 1/2, unbiased std 1/sqrt(3)
    rollout = Rollout(tokens=torch.zeros(4, 1, dtype=torch.long), mask=torch.ones(4, 1),
                      rewards=torch.tensor([1.0, 1.0, 0.0, 0.0]), group=torch.zeros(4, dtype=torch.long),
                      old_log_probs=torch.zeros(4, 1), off_policy=torch.tensor([True, False, False, False]))
    advantages = compute_advantages(rollout, AdvantageConfig(adv_estimator="grpo"))
    scale = math.sqrt(3.0) / 2.0  # (r - 1/2) / (1/sqrt(3) + 1e-6), to float32
    torch.testing.assert_close(advantages[:, 0], torch.tensor([scale, scale, -scale, -scale]), rtol=1e-5, atol=1e-6)


def test_rollout_refuses_a_misshapen_off_policy_flag() -> None:
    with pytest.raises(ValueError, match=r"Rollout.off_policy must have shape \[2\]"):
        Rollout(tokens=torch.zeros(2, 1, dtype=torch.long), mask=torch.ones(2, 1), rewards=torch.ones(2),
                group=torch.zeros(2, dtype=torch.long), old_log_probs=torch.zeros(2, 1),
                off_policy=torch.tensor([True, False, True]))
