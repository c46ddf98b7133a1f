"""The entropy-change law (The Entropy Mechanism, arXiv 2505.22617) against the realised change and autograd.

Claim 1 of ``entropic-laws`` checks the same law over whole runs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from entropic.metrics import (
    entropy_from_logits,
    exact_entropy_change,
    npg_logit_step,
    pg_logit_step,
    policy_covariance,
    predicted_entropy_change,
    predicted_entropy_change_npg,
    predicted_entropy_change_pg,
)

Tensor = torch.Tensor


def _draws(count: int = 500, arms: int = 8, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Random tabular policies (logits) and advantages, ``[count, arms]`` each, float64."""
    generator = torch.Generator().manual_seed(seed)
    logits = 1.5 * torch.randn(count, arms, generator=generator, dtype=torch.float64)
    advantages = torch.randn(count, arms, generator=generator, dtype=torch.float64)
    return logits, advantages


Law = tuple[Callable[[Tensor, Tensor, float], Tensor], Callable[[Tensor, Tensor, float], Tensor]]
CONTROL_LAWS: dict[str, Law] = {
    "pg": (pg_logit_step, predicted_entropy_change_pg),
    "npg": (lambda logits, advantages, lr: npg_logit_step(advantages, lr), predicted_entropy_change_npg),
}


def _relative_error(law: Law, logits: Tensor, advantages: Tensor, lr: float) -> tuple[Tensor, Tensor, Tensor]:
    step, predict = law
    exact = exact_entropy_change(logits, step(logits, advantages, lr))
    predicted = predict(logits, advantages, lr)
    return (predicted - exact).abs() / exact.abs(), predicted, exact


@pytest.mark.parametrize("name", sorted(CONTROL_LAWS))
def test_relative_error_shrinks_linearly_with_the_step(name: str) -> None:
    logits, advantages = _draws()
    coarse, _, _ = _relative_error(CONTROL_LAWS[name], logits, advantages, 1e-2)
    fine, _, _ = _relative_error(CONTROL_LAWS[name], logits, advantages, 1e-3)
    assert 9.0 < float((coarse / fine).median()) < 11.0


@pytest.mark.parametrize("name", sorted(CONTROL_LAWS))
def test_small_steps_match_in_size_and_sign(name: str) -> None:
    """§14 claim 1: relative error < 10% as the step shrinks, sign agreement in > 95% of draws."""
    logits, advantages = _draws(seed=1)
    relative_error, predicted, exact = _relative_error(CONTROL_LAWS[name], logits, advantages, 1e-3)
    assert float((relative_error < 0.1).double().mean()) > 0.95
    assert float((torch.sign(predicted) == torch.sign(exact)).double().mean()) > 0.95


def test_each_law_belongs_to_its_own_optimiser() -> None:
    """The natural-gradient law does not predict a vanilla-gradient step, even for tiny steps."""
    logits, advantages = _draws(seed=2)
    exact = exact_entropy_change(logits, pg_logit_step(logits, advantages, 1e-4))
    wrong_law = predicted_entropy_change_npg(logits, advantages, 1e-4)
    assert float(((wrong_law - exact).abs() / exact.abs()).median()) > 0.5


def test_prediction_is_the_directional_derivative_of_entropy() -> None:
    logits, step = _draws(count=20, seed=3)
    t = torch.zeros(20, 1, dtype=torch.float64, requires_grad=True)
    (derivative,) = torch.autograd.grad(entropy_from_logits(logits + t * step).sum(), t)
    torch.testing.assert_close(predicted_entropy_change(logits, step), derivative.squeeze(-1))


def test_pg_step_is_lr_times_the_gradient_of_expected_advantage() -> None:
    logits, advantages = _draws(count=20, seed=4)
    logits.requires_grad_()
    (gradient,) = torch.autograd.grad((torch.softmax(logits, -1) * advantages).sum(), logits)
    torch.testing.assert_close(pg_logit_step(logits.detach(), advantages, 0.3), 0.3 * gradient)


def test_predictors_match_the_covariance_formulas_in_numpy() -> None:
    logits, advantages = _draws(count=10, seed=5)
    probs = torch.softmax(logits, -1).numpy()
    centred = advantages.numpy() - (probs * advantages.numpy()).sum(-1, keepdims=True)
    lr = 0.05
    for i in range(10):
        log_pi = np.log(probs[i])
        pg = -lr * np.cov(log_pi, probs[i] * centred[i], aweights=probs[i], bias=True)[0, 1]
        npg = -lr * np.cov(log_pi, advantages[i].numpy(), aweights=probs[i], bias=True)[0, 1]
        np.testing.assert_allclose(predicted_entropy_change_pg(logits[i], advantages[i], lr).item(), pg, rtol=1e-10)
        np.testing.assert_allclose(predicted_entropy_change_npg(logits[i], advantages[i], lr).item(), npg, rtol=1e-10)


def test_advantage_offset_does_not_change_either_law() -> None:
    logits, advantages = _draws(count=30, seed=6)
    for _, predict in CONTROL_LAWS.values():
        torch.testing.assert_close(predict(logits, advantages + 2.5, 0.1), predict(logits, advantages, 0.1))


def test_policy_covariance_is_symmetric_and_zero_for_constants() -> None:
    logits, x = _draws(count=12, seed=7)
    y = torch.randn(12, 8, dtype=torch.float64)
    torch.testing.assert_close(policy_covariance(logits, x, y), policy_covariance(logits, y, x))
    torch.testing.assert_close(policy_covariance(logits, x, torch.full_like(x, 3.0)),
                               torch.zeros(12, dtype=torch.float64))
