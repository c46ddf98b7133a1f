"""STEER: Omega against a hand-worked value and the project's first-order law, weights from a known Omega."""

from __future__ import annotations

import math

import pytest
import torch
from objectives_ref import batch_of, random_batch

from entropic.control import Control
from entropic.metrics import entropy_from_logits, predicted_entropy_change
from entropic.objectives import MODIFIERS, Objective, ObjectiveConfig
from entropic.objectives.steer import OMEGA_FLOOR, steer_weights, token_entropy_change

F64 = torch.float64


def test_omega_hand_worked() -> None:
    # p = pi_old = 0.8, H = 0.5, A = 1: -(1 / 0.8) * 0.8 * 0.2 * (log 0.8 + 0.5)
    logp = torch.tensor([[math.log(0.8), math.log(0.5)]], dtype=F64)
    omega = token_entropy_change(logp, logp, torch.tensor([[1.0, -2.0]], dtype=F64),
                                 torch.tensor([[0.5, math.log(2)]], dtype=F64), torch.ones(1, 2, dtype=F64))
    # the second token sits where log p + H = 0 (a uniform pair): no first-order change
    torch.testing.assert_close(omega, torch.tensor([[-0.2 * (math.log(0.8) + 0.5), 0.0]], dtype=F64))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_omega_is_the_first_order_change_of_a_step_on_the_sampled_logit(seed: int) -> None:
    # the project's law -Cov_pi(log pi, dz) with dz = g e_y, g = (A / pi_old)(1 - p), from the full logits
    g = torch.Generator().manual_seed(seed)
    logits = 2.0 * torch.randn(6, 7, generator=g, dtype=F64)
    tokens = torch.randint(7, (6,), generator=g)
    advantages = torch.randn(6, generator=g, dtype=F64)
    log_probs = torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # [6]
    old = log_probs + 0.3 * torch.randn(6, generator=g, dtype=F64)
    p = log_probs.exp()
    step = ((advantages / old.exp()) * (1 - p)).unsqueeze(-1) * torch.nn.functional.one_hot(tokens, 7).to(F64)
    law = predicted_entropy_change(logits, step)  # [6]
    omega = token_entropy_change(log_probs.unsqueeze(-1), old.unsqueeze(-1), advantages.unsqueeze(-1),
                                 entropy_from_logits(logits).unsqueeze(-1), torch.ones(6, 1, dtype=F64))
    torch.testing.assert_close(omega.squeeze(-1), law, rtol=1e-10, atol=1e-14)


def test_omega_is_zero_on_padding_and_where_not_finite() -> None:
    logp = torch.tensor([[-0.1, float("nan"), -1.0]], dtype=F64)
    omega = token_entropy_change(logp, logp, torch.ones(1, 3, dtype=F64), torch.ones(1, 3, dtype=F64),
                                 torch.tensor([[1.0, 1.0, 0.0]], dtype=F64))
    assert omega[0, 0] != 0 and omega[0, 1] == 0 and omega[0, 2] == 0


def test_weights_from_a_known_omega() -> None:
    omega = torch.tensor([[0.5, -1.0, 0.25]], dtype=F64)
    weights, k, largest = steer_weights(omega, torch.zeros(1, dtype=torch.long), 1, 0.8)
    k_expected = -math.log(0.8) / 1.0  # the largest |Omega| gets exactly lambda_min
    torch.testing.assert_close(k, torch.tensor([k_expected], dtype=F64))
    torch.testing.assert_close(largest, torch.tensor([1.0], dtype=F64))
    expected = [math.exp(-k_expected * 0.5), 0.8, math.exp(-k_expected * 0.25)]
    torch.testing.assert_close(weights, torch.tensor([expected], dtype=F64))


def test_small_changes_are_measured_against_the_floor() -> None:
    omega = torch.tensor([[0.01, -0.005]], dtype=F64)
    weights, k, _ = steer_weights(omega, torch.zeros(1, dtype=torch.long), 1, 0.8)
    torch.testing.assert_close(k, torch.tensor([-math.log(0.8) / OMEGA_FLOOR], dtype=F64))
    assert bool((weights > 0.8).all())  # no token reaches lambda_min below the floor


def test_each_run_sets_its_own_k_and_lambda_min_one_gives_unit_weights() -> None:
    omega = torch.tensor([[2.0], [-0.5], [4.0], [1.0]], dtype=F64)
    run = torch.tensor([0, 0, 1, 1])
    weights, k, _ = steer_weights(omega, run, 2, 0.5)
    torch.testing.assert_close(k, torch.tensor([math.log(2) / 2.0, math.log(2) / 4.0], dtype=F64))
    torch.testing.assert_close(weights.squeeze(-1), torch.tensor([0.5, 2 ** -0.25, 0.5, 2 ** -0.25], dtype=F64))
    ones, _, _ = steer_weights(omega, run, 2, 1.0)
    assert bool((ones == 1).all())


def test_the_modifier_weights_the_policy_gradient_by_its_weights() -> None:
    batch = random_batch(5, 4, seed=3, token_adv=True)
    batch.entropy = torch.rand(5, 4, generator=torch.Generator().manual_seed(1), dtype=F64)
    config = ObjectiveConfig(policy_loss="reinforce", modifiers=["steer"], steer_weight_min=0.6)
    weights, metrics = MODIFIERS.get("steer").fn(batch, Control(), config)
    loss, logged = Objective(config)(batch, Control())
    (grad,) = torch.autograd.grad(loss.sum(), batch.log_probs)
    # token-mean REINFORCE: d loss / d logp = -A w mask / N
    torch.testing.assert_close(grad, -batch.advantages * weights * batch.mask / batch.mask.sum())
    assert 0.6 - 1e-12 <= float(weights[batch.mask > 0].min()) <= float(weights.max()) <= 1.0
    assert float(weights[batch.mask > 0].min()) == pytest.approx(0.6)
    for name in ("actor/steer_weight_mean", "actor/steer_k", "actor/steer_omega_max"):
        torch.testing.assert_close(logged[name], metrics[name])


def test_the_modifier_needs_entropy() -> None:
    batch = batch_of(torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1, 2))
    with pytest.raises(ValueError, match="entropy"):
        Objective(ObjectiveConfig(modifiers=["steer"]))(batch, Control())


@pytest.mark.parametrize("value", [0.0, -0.5, 1.5, math.nan])
def test_bad_lambda_min_is_refused_naming_the_field(value: float) -> None:
    with pytest.raises(ValueError, match="steer_weight_min"):
        ObjectiveConfig(modifiers=["steer"], steer_weight_min=value)
