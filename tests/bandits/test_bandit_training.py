"""Training behaviour (GRPO raises reward, collapses entropy), resume, metrics and parameterisations."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from bandit_steps import loss_and_rollout, train

from entropic.metrics import pass_at_k_from_probability
from entropic.objectives import Objective, ObjectiveConfig
from entropic.sims import BanditConfig, SoftmaxBanditBackend

SMALL = dict(num_prompts=6, num_arms=8, num_correct=2, init_entropy=1.6, init_accuracy=0.2)


def _trajectory(backend: SoftmaxBanditBackend, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step (entropy, pass@1), each ``[steps + 1, R]``."""
    entropy, accuracy = [backend.evaluate()["eval/entropy"]], [backend.evaluate()["eval/pass@1"]]
    for _ in range(steps):
        train(backend, 1)
        metrics = backend.evaluate()
        entropy.append(metrics["eval/entropy"])
        accuracy.append(metrics["eval/pass@1"])
    return torch.stack(entropy), torch.stack(accuracy)


def test_grpo_raises_reward_and_collapses_entropy() -> None:
    entropy, accuracy = _trajectory(SoftmaxBanditBackend(BanditConfig(), num_runs=4), steps=300)
    assert bool((accuracy[-1] > 0.9).all()) and bool((accuracy[0] < 0.11).all())
    assert bool((entropy[-1] < 0.1 * entropy[0]).all())
    # monotone decline (The Entropy Mechanism, arXiv 2505.22617)
    falling = (entropy[1:] < entropy[:-1]).double().mean(0)
    assert bool((falling > 0.85).all()), falling


def test_hard_prompts_make_accuracy_plateau_below_one() -> None:
    backend = SoftmaxBanditBackend(BanditConfig(difficulty_spread=2.0), num_runs=2)
    _, accuracy = _trajectory(backend, steps=300)
    assert bool((accuracy[-1] < 0.85).all()) and bool((accuracy[-1] - accuracy[-51] < 0.05).all())
    rollout = backend.rollout()
    assert float((rollout.rewards == 0).double().mean()) > 0.1  # negative samples persist


@pytest.mark.parametrize("overrides", [dict(), dict(optimizer="adam", lr=0.05, max_grad_norm=1.0),
                                       dict(mode="exact", seq_len=2), dict(parameterization="features")],
                         ids=["sgd", "adam", "exact-tokens", "features"])
def test_state_dict_round_trip_mid_run_is_bit_identical(overrides: dict) -> None:
    config = BanditConfig(**{**SMALL, **overrides})
    backend = SoftmaxBanditBackend(config, num_runs=3, lr=torch.tensor([0.5, 1.0, 2.0]) * config.lr)
    train(backend, 5)
    buffer = io.BytesIO()
    torch.save(backend.state_dict(), buffer)
    continued = train(backend, 5)
    restored = SoftmaxBanditBackend(config, num_runs=3)
    buffer.seek(0)
    restored.load_state_dict(torch.load(buffer))
    assert torch.equal(train(restored, 5), continued)
    for name, param in backend.policy.params.items():
        assert torch.equal(restored.policy.params[name], param)


def test_state_dict_is_a_snapshot_and_checks_shapes() -> None:
    backend = SoftmaxBanditBackend(BanditConfig(**SMALL), num_runs=2)
    state = backend.state_dict()
    saved = copy.deepcopy(state)
    train(backend, 2)
    assert torch.equal(state["params"]["logits"], saved["params"]["logits"])
    with pytest.raises(ValueError, match="state_dict parameter 'logits' has shape"):
        SoftmaxBanditBackend(BanditConfig(**SMALL), num_runs=3).load_state_dict(state)


def test_step_returns_per_run_grad_norm_and_clips() -> None:
    config = BanditConfig(**SMALL, max_grad_norm=1e-3, lr=1.0, dtype="float64")
    backend = SoftmaxBanditBackend(config, num_runs=2)
    before = backend.policy.params["logits"].detach().clone()
    loss, _ = loss_and_rollout(backend, Objective(ObjectiveConfig()))
    backend.backward(loss)
    metrics = backend.step()
    assert metrics["grad/norm"].shape == (2,) and bool((metrics["grad/norm"] > 1e-3).all())
    moved = (backend.policy.params["logits"].detach() - before).flatten(1).norm(dim=-1)
    assert torch.allclose(moved, torch.full((2,), 1e-3, dtype=torch.float64), rtol=1e-3)
    with pytest.raises(ValueError, match=r"backward needs one loss per run, shape \[2\]"):
        backend.backward(loss.detach().sum())


def test_evaluate_pass_at_k_is_the_per_prompt_closed_form() -> None:
    config = BanditConfig(**SMALL, reward_correct=0.8, reward_wrong=0.05, eval_k=[1, 4, 32])
    backend = SoftmaxBanditBackend(config, num_runs=2)
    train(backend, 3)
    probs = torch.softmax(backend.policy.logits().detach(), dim=-1)[:, :, 0]
    mass = (probs * backend.task.correct[:, 0]).sum(-1)  # [R, P]
    success = 0.8 * mass + 0.05 * (1 - mass)
    metrics = backend.evaluate()
    assert set(metrics) == {"eval/pass@1", "eval/pass@4", "eval/pass@32", "eval/entropy", "eval/correct_mass",
                            "eval/correct_entropy"}
    assert torch.allclose(metrics["eval/pass@1"], success.mean(-1))
    assert torch.allclose(metrics["eval/pass@32"], pass_at_k_from_probability(success, 32).mean(-1))
    assert torch.allclose(metrics["eval/correct_mass"], mass.mean(-1))
    assert bool((metrics["eval/pass@4"] > metrics["eval/pass@1"]).all())


def test_multi_token_reward_needs_every_position_correct() -> None:
    backend = SoftmaxBanditBackend(BanditConfig(**{**SMALL, "seq_len": 3, "group_size": 64}))
    rollout = backend.rollout()
    positions = torch.arange(3)
    in_set = backend.task.correct[rollout.prompts.unsqueeze(-1), positions, rollout.tokens]  # [B, T]
    assert torch.equal(rollout.rewards, in_set.all(-1).float())
    stats = backend.score(rollout)
    assert stats.entropy.shape == (rollout.batch_size, 3)
    assert not torch.equal(stats.entropy[:, 0], stats.entropy[:, 1])  # position-wise policies


def _prompt_zero_update(parameterization: str) -> torch.Tensor:
    """Logit change ``[P]`` (norm per prompt) after a step whose loss only involves prompt 0."""
    backend = SoftmaxBanditBackend(BanditConfig(**SMALL, parameterization=parameterization, dtype="float64"))
    before = backend.policy.logits().detach().clone()
    rollout = backend.rollout()
    stats = backend.score(rollout, entropy="none")
    advantages = torch.where(rollout.prompts == 0, 1.0, 0.0).double().unsqueeze(-1)
    loss = -(advantages * stats.log_probs).sum().unsqueeze(0)
    backend.backward(loss)
    backend.step()
    return (backend.policy.logits().detach() - before)[0].flatten(1).norm(dim=-1)


def test_shared_parameterisations_couple_prompts_and_the_table_does_not() -> None:
    tabular = _prompt_zero_update("tabular")
    assert float(tabular[0]) > 0 and bool((tabular[1:] == 0).all())
    for kind in ("features", "low_rank"):
        coupled = _prompt_zero_update(kind)
        assert bool((coupled > 0).all()), kind
