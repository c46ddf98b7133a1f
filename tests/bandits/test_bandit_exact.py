"""Exact-expectation mode against closed forms: the tabular-softmax gradient and the entropy-change law."""

from __future__ import annotations

import pytest
import torch
from bandit_steps import loss_and_rollout

from entropic.metrics import pg_logit_step, predicted_entropy_change, predicted_entropy_change_pg
from entropic.objectives import Objective, ObjectiveConfig
from entropic.sims import BanditConfig, SoftmaxBanditBackend

TASK = dict(num_prompts=4, num_arms=8, num_correct=2, init_entropy=1.7, init_accuracy=0.25, dtype="float64",
            reward_correct=0.9, reward_wrong=0.1)
REINFORCE = Objective(ObjectiveConfig(policy_loss="reinforce", loss_agg_mode="token-mean"))


def exact_grpo_advantages(backend: SoftmaxBanditBackend) -> torch.Tensor:
    """GRPO's expectation per (run, prompt, arm) under reward noise: ``[R, P, K]``.

    The reward is Bernoulli(pay(a)) with ``a ~ pi``: mean ``mu = E_pi pay`` and std ``sqrt(mu (1 - mu))``, so
    an arm's advantage averaged over the verifier's coin is ``(pay(a) - mu) / (sqrt(mu (1 - mu)) + 1e-6)``.
    """
    probs = torch.softmax(backend.policy.logits().detach()[:, :, 0], dim=-1)
    pay = backend.task.pay_probability(backend.task.correct[:, 0], probs.dtype).expand_as(probs)
    mean = (probs * pay).sum(-1, keepdim=True)
    return (pay - mean) / ((mean * (1 - mean)).sqrt() + 1e-6)


def test_exact_gradient_is_the_analytic_tabular_softmax_gradient() -> None:
    backend = SoftmaxBanditBackend(BanditConfig(mode="exact", group_size=8, **TASK), num_runs=2)
    logits = backend.policy.logits().detach()[:, :, 0]  # [R, P, K]
    expected_adv = exact_grpo_advantages(backend)
    loss, advantages = loss_and_rollout(backend, REINFORCE)
    # rows: each arm paid (reward 1) then unpaid (reward 0); average them over the verifier's coin
    pay = backend.task.pay_probability(backend.task.correct[:, 0], torch.float64)
    paired = advantages.view(2, 4, 8, 2)
    assert torch.allclose(pay * paired[..., 0] + (1 - pay) * paired[..., 1], expected_adv, atol=1e-12)
    (grad,) = torch.autograd.grad(loss.sum(), backend.policy.params["logits"])
    # token-mean over P * G weighted rows: dL/dz_pa = -(1/P) pi(a) (A(a) - E_pi A)
    analytic = -pg_logit_step(logits, expected_adv, 1.0 / 4)
    assert torch.allclose(grad[:, :, 0], analytic, atol=1e-14, rtol=1e-10)


def test_noise_free_exact_rows_are_one_per_arm_with_their_reward() -> None:
    backend = SoftmaxBanditBackend(BanditConfig(mode="exact", **{**TASK, "reward_correct": 1.0,
                                                                   "reward_wrong": 0.0}))
    rollout = backend.rollout()
    assert rollout.batch_size == 4 * 8
    assert torch.equal(rollout.rewards, rollout.extras["correct"])


def test_sgd_step_moves_logits_by_lr_times_the_pg_step() -> None:
    lr = torch.tensor([0.5, 2.0], dtype=torch.float64)
    backend = SoftmaxBanditBackend(BanditConfig(mode="exact", **TASK), num_runs=2, lr=lr)
    before = backend.policy.logits().detach()[:, :, 0].clone()
    step = pg_logit_step(before, exact_grpo_advantages(backend), lr.view(2, 1, 1) / 4)
    loss, _ = loss_and_rollout(backend, REINFORCE)
    backend.backward(loss)
    backend.step()
    assert torch.allclose(backend.policy.logits().detach()[:, :, 0] - before, step, atol=1e-13)


def test_sampled_gradients_average_to_the_exact_gradient() -> None:
    exact = SoftmaxBanditBackend(BanditConfig(mode="exact", **TASK))
    loss, _ = loss_and_rollout(exact, REINFORCE)
    (exact_grad,) = torch.autograd.grad(loss.sum(), exact.policy.params["logits"])
    sampled = SoftmaxBanditBackend(BanditConfig(mode="sampled", group_size=4096, **TASK))
    mean_grad = torch.zeros_like(exact_grad)
    rollouts = 10
    for _ in range(rollouts):
        loss, _ = loss_and_rollout(sampled, REINFORCE)
        mean_grad += torch.autograd.grad(loss.sum(), sampled.policy.params["logits"])[0] / rollouts
    # Monte-Carlo error ~ 1/sqrt(pi G n) ~ 2% per coordinate; GRPO's sample std adds an O(1/G) bias
    assert float((mean_grad - exact_grad).norm() / exact_grad.norm()) < 0.05


def _one_step_entropy_change(optimizer: str, lr: float, **task: float) -> tuple[float, float, float]:
    """(observed dH, PG-law prediction, general-law prediction from the realised logit step), run 0."""
    backend = SoftmaxBanditBackend(BanditConfig(mode="exact", optimizer=optimizer, lr=lr, **{**TASK, **task}))
    logits = backend.policy.logits().detach()[:, :, 0].clone()
    advantages = exact_grpo_advantages(backend)
    before = backend.evaluate()["eval/entropy"]
    loss, _ = loss_and_rollout(backend, REINFORCE)
    backend.backward(loss)
    backend.step()
    observed = float((backend.evaluate()["eval/entropy"] - before)[0])
    # token-mean over P prompts: the logit step is (lr / P) pi (A - E A), and eval/entropy averages prompts
    pg_law = float(predicted_entropy_change_pg(logits, advantages, lr / 4).mean())
    step = backend.policy.logits().detach()[:, :, 0] - logits
    general_law = float(predicted_entropy_change(logits, step).mean())
    return observed, pg_law, general_law


@pytest.mark.parametrize("init_accuracy", [0.25, 0.6], ids=["rare-correct-entropy-rises", "likely-correct-falls"])
def test_entropy_change_follows_the_pg_covariance_law_with_linearly_vanishing_error(init_accuracy: float) -> None:
    errors = []
    for lr in (0.4, 0.04, 0.004):
        observed, predicted, _ = _one_step_entropy_change("sgd", lr, init_accuracy=init_accuracy)
        assert observed * predicted > 0
        errors.append(abs(observed - predicted) / abs(predicted))
    assert errors[-1] < 0.01, errors
    for coarse, fine in zip(errors, errors[1:], strict=False):
        assert 5.0 < coarse / fine < 20.0, errors  # first-order law: relative error O(lr)


def test_adam_breaks_the_pg_law_but_not_the_general_covariance_law() -> None:
    observed, pg_law, general_law = _one_step_entropy_change("adam", 1e-4)
    assert abs(observed - general_law) / abs(observed) < 0.01
    assert abs(observed - pg_law) / abs(observed) > 0.5


@pytest.mark.parametrize("lr", [1e-3, 0.1])
def test_first_adam_step_is_lr_times_the_gradient_sign(lr: float) -> None:
    backend = SoftmaxBanditBackend(BanditConfig(mode="exact", optimizer="adam", lr=lr, **TASK))
    before = backend.policy.params["logits"].detach().clone()
    loss, _ = loss_and_rollout(backend, REINFORCE)
    (grad,) = torch.autograd.grad(loss.sum(), backend.policy.params["logits"], retain_graph=True)
    backend.backward(loss)
    backend.step()
    expected = -lr * grad / (grad.abs() + backend.config.adam_eps)
    assert torch.allclose(backend.policy.params["logits"].detach() - before, expected, atol=1e-12)
