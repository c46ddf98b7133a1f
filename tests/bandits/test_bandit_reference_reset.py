"""ProRL's reference reset on the bandit: the reference becomes each run's current policy, per run."""

from __future__ import annotations

import io

import pytest
import torch
from bandit_steps import train

from entropic.control import Control
from entropic.objectives import Objective, ObjectiveConfig, kl_penalty
from entropic.sims import BanditConfig, SoftmaxBanditBackend

KL = Objective(ObjectiveConfig(policy_loss="vanilla", terms=["kl"], kl_loss_type="low_var_kl"))
CONTROL = Control(kl_loss_coef=0.1)
SMALL = dict(num_prompts=6, num_arms=8, num_correct=2, init_entropy=1.6, init_accuracy=0.2, seq_len=2)


def test_reset_makes_the_reference_the_current_policy_and_the_kl_zero() -> None:
    backend = SoftmaxBanditBackend(BanditConfig(**SMALL), num_runs=3)
    train(backend, 4, KL, CONTROL)
    drifted = backend.rollout()
    assert not torch.equal(drifted.ref_log_probs, drifted.old_log_probs)
    backend.reset_reference()
    rollout = backend.rollout()
    assert torch.equal(rollout.ref_log_probs, rollout.old_log_probs)
    assert torch.equal(kl_penalty(rollout.old_log_probs, rollout.ref_log_probs, "low_var_kl"),
                       torch.zeros_like(rollout.old_log_probs))


def test_run_alone_equals_run_among_many_through_a_reset() -> None:
    config = BanditConfig(**SMALL)
    seeds = torch.arange(16) * 7 + 1
    lr = config.lr * torch.linspace(0.5, 2.0, 16)
    batched = SoftmaxBanditBackend(config, num_runs=16, seeds=seeds, lr=lr)
    alone = SoftmaxBanditBackend(config, num_runs=1, seeds=seeds[9:10], lr=float(lr[9]))
    losses = []
    for backend in (batched, alone):
        first = train(backend, 5, KL, CONTROL)
        backend.reset_reference()
        losses.append(torch.cat([first, train(backend, 5, KL, CONTROL)]))
    assert torch.equal(losses[1][:, 0], losses[0][:, 9])
    assert torch.equal(alone.policy.params["logits"][0], batched.policy.params["logits"][9])


def test_state_dict_after_a_reset_resumes_bit_identically() -> None:
    config = BanditConfig(**SMALL)
    backend = SoftmaxBanditBackend(config, num_runs=2)
    train(backend, 3, KL, CONTROL)
    backend.reset_reference()
    train(backend, 2, KL, CONTROL)
    buffer = io.BytesIO()
    torch.save(backend.state_dict(), buffer)
    continued = train(backend, 4, KL, CONTROL)
    restored = SoftmaxBanditBackend(config, num_runs=2)
    buffer.seek(0)
    restored.load_state_dict(torch.load(buffer))
    assert torch.equal(train(restored, 4, KL, CONTROL), continued)


def test_without_a_reference_rollouts_carry_none_and_a_reset_is_refused() -> None:
    backend = SoftmaxBanditBackend(BanditConfig(num_prompts=4, num_arms=8, num_correct=2, init_entropy=1.5,
                                                use_reference=False))
    assert backend.rollout().ref_log_probs is None
    with pytest.raises(ValueError, match="backend.use_reference=false"):
        backend.reset_reference()
