"""The entropy-change predictor against closed forms and against a real SGD step."""

from __future__ import annotations

import math

import pytest
import torch

from entropic.advantages import AdvantageConfig, compute_advantages
from entropic.control import Control
from entropic.laws.observer import state_ids
from entropic.laws.predictor import predicted_entropy_change, token_entropy_contributions, token_kernels
from entropic.laws.quadrants import QUADRANTS, quadrant_entropy_change
from entropic.metrics import entropy_from_logits, predicted_entropy_change_npg, predicted_entropy_change_pg
from entropic.objectives import Objective, ObjectiveConfig, PolicyBatch
from entropic.sims import BanditConfig, SoftmaxBanditBackend


def two_arm_rows(p: float, advantages: tuple[float, float]) -> dict:
    """One state with two arms enumerated as exact-expectation rows (weights pi_a, one run)."""
    z = math.log(p / (1 - p))
    logits = torch.tensor([[[z, 0.0]], [[z, 0.0]]], dtype=torch.float64)  # [B=2, T=1, K=2]
    return dict(logits=logits, tokens=torch.tensor([[0], [1]]),
                advantages=torch.tensor([[advantages[0]], [advantages[1]]], dtype=torch.float64),
                mask=torch.ones(2, 1, dtype=torch.float64), run=torch.zeros(2, dtype=torch.long), num_runs=1,
                weights=torch.tensor([p, 1 - p], dtype=torch.float64), states=torch.zeros(2, 1, dtype=torch.long))


@pytest.mark.parametrize("p, advantages", [(0.8, (1.0, 0.0)), (0.3, (0.5, -1.0)), (0.5, (2.0, 1.0))])
def test_two_arm_bandit_matches_the_hand_computed_law(p: float, advantages: tuple[float, float]) -> None:
    # vanilla PG step dz_a = pi_a (A_a - E A): z1 - z2 moves by 2 p (1 - p) (A1 - A2), and with
    # Cov(x, y) = p (1 - p) (x1 - x2) (y1 - y2) the law is -2 p^2 (1 - p)^2 log(p / (1 - p)) (A1 - A2)
    gap, logit_gap = advantages[0] - advantages[1], math.log(p / (1 - p))
    pg = -2 * p ** 2 * (1 - p) ** 2 * logit_gap * gap
    npg = -p * (1 - p) * logit_gap * gap  # natural gradient: dz = A
    rows = two_arm_rows(p, advantages)
    assert float(predicted_entropy_change(**rows, form="pg")) == pytest.approx(pg, abs=1e-15)
    assert float(predicted_entropy_change(**rows, form="npg")) == pytest.approx(npg, abs=1e-15)


def test_two_arm_hand_numbers() -> None:
    # p = 0.8, A = (1, 0): -2 * 0.64 * 0.04 * log 4 = -0.0709782...; NPG: -0.16 * log 4 = -0.2218070...
    rows = two_arm_rows(0.8, (1.0, 0.0))
    assert float(predicted_entropy_change(**rows, form="pg")) == pytest.approx(-0.0709782, abs=1e-7)
    assert float(predicted_entropy_change(**rows, form="npg")) == pytest.approx(-0.2218071, abs=1e-7)


def test_per_token_kernels_sum_to_the_metrics_closed_forms() -> None:
    generator = torch.Generator().manual_seed(0)
    K = 7
    logits = torch.randn(K, dtype=torch.float64, generator=generator)
    advantage = torch.randn(K, dtype=torch.float64, generator=generator)
    probs = torch.softmax(logits, -1)
    rows = dict(logits=logits.expand(K, 1, K).clone(), tokens=torch.arange(K).view(K, 1),
                advantages=advantage.view(K, 1), mask=torch.ones(K, 1, dtype=torch.float64),
                run=torch.zeros(K, dtype=torch.long), num_runs=1, weights=probs, states=torch.zeros(K, 1,
                                                                                                 dtype=torch.long))
    assert float(predicted_entropy_change(**rows, form="pg")) == pytest.approx(
        float(predicted_entropy_change_pg(logits, advantage, 1.0)), rel=1e-12)
    centred = advantage - (probs * advantage).sum()  # the NPG form needs the centred advantage
    rows["advantages"] = centred.view(K, 1)
    assert float(predicted_entropy_change(**rows, form="npg")) == pytest.approx(
        float(predicted_entropy_change_npg(logits, centred, 1.0)), rel=1e-12)


def test_kernels_computed_per_state_equal_per_token() -> None:
    generator = torch.Generator().manual_seed(1)
    state_logits = torch.randn(3, 5, dtype=torch.float64, generator=generator)
    states = torch.tensor([0, 0, 1, 2, 2, 2]).view(6, 1)
    tokens = torch.tensor([1, 3, 0, 4, 4, 2]).view(6, 1)
    logits = state_logits[states.view(-1)].view(6, 1, 5)
    shared, single = token_kernels(logits, tokens, states), token_kernels(logits, tokens)
    for name in shared:
        assert torch.allclose(shared[name], single[name], atol=1e-14)


def sgd_step_on_bandit(lr: float, mode: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One GRPO step of a float64 SGD bandit: (predicted per unit lr [R], observed dH [R], quadrant sum [R])."""
    config = BanditConfig(num_prompts=6, num_arms=8, num_correct=2, group_size=4, init_entropy=1.8,
                          init_accuracy=0.2, dtype="float64", mode=mode, lr=lr)
    backend = SoftmaxBanditBackend(config, num_runs=3)
    rollout = backend.rollout()
    advantages = compute_advantages(rollout, AdvantageConfig())
    stats = backend.score(rollout)
    common = (stats.logits, rollout.tokens, advantages, rollout.mask, rollout.run_ids(), 3, rollout.weights,
              state_ids(rollout, "group_position"))
    predicted = predicted_entropy_change(*common)
    quadrants = quadrant_entropy_change(*common)
    before = entropy_from_logits(backend.policy.logits().detach()).mean((1, 2))  # [R]
    loss, _ = Objective(ObjectiveConfig())(PolicyBatch.from_step(rollout, stats, advantages), Control())
    backend.backward(loss)
    backend.step()
    after = entropy_from_logits(backend.policy.logits().detach()).mean((1, 2))
    return predicted, after - before, sum(quadrants[q] for q in QUADRANTS)


@pytest.mark.parametrize("mode", ["sampled", "exact"])
def test_predictor_matches_a_real_sgd_step_to_first_order(mode: str) -> None:
    errors = []
    for lr in (0.01, 0.1):
        predicted, observed, quadrants = sgd_step_on_bandit(lr, mode)
        assert torch.allclose(quadrants, predicted, atol=1e-15)  # the classes add up exactly
        errors.append(float(((lr * predicted - observed).abs() / observed.abs()).max()))
    assert errors[0] < 1e-2
    assert errors[1] / errors[0] == pytest.approx(10.0, rel=0.2)  # error O(lr^2): relative error O(lr)


def test_contributions_vanish_on_padding_and_zero_advantage() -> None:
    rows = two_arm_rows(0.6, (1.0, -1.0))
    rows["mask"] = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    contributions = token_entropy_contributions(**rows)
    assert contributions[1, 0] == 0.0
    rows["advantages"] = torch.zeros(2, 1, dtype=torch.float64)
    assert torch.equal(token_entropy_contributions(**rows), torch.zeros(2, 1, dtype=torch.float64))
