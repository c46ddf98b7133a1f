"""ProRL's reference reset on the toy LM: the reference becomes each run's current parameters, and resumes."""

from __future__ import annotations

import io

import pytest
import torch
from toy_lm_steps import train

from entropic.control import Control
from entropic.objectives import Objective, ObjectiveConfig, kl_penalty
from entropic.protocol import SupportsOptimizerReset, SupportsReferenceReset
from entropic.sims.toy_lm import ToyLMBackend

KL = Objective(ObjectiveConfig(policy_loss="vanilla", terms=["kl"], kl_loss_type="low_var_kl"))
CONTROL = Control(kl_loss_coef=0.1)


def test_reset_makes_the_reference_the_current_policy_and_the_kl_zero(tiny) -> None:
    backend = ToyLMBackend(tiny(), num_runs=2)
    assert isinstance(backend, SupportsReferenceReset) and isinstance(backend, SupportsOptimizerReset)
    train(backend, 2, KL, CONTROL)
    drifted = backend.rollout()
    assert not torch.equal(drifted.ref_log_probs, drifted.old_log_probs)
    backend.reset_reference()
    rollout = backend.rollout()
    assert torch.equal(rollout.ref_log_probs, rollout.old_log_probs)
    assert torch.equal(kl_penalty(rollout.old_log_probs, rollout.ref_log_probs, "low_var_kl") * rollout.mask,
                       torch.zeros_like(rollout.mask))


def test_state_dict_after_a_reset_resumes_bit_identically(tiny) -> None:
    config = tiny()
    backend = ToyLMBackend(config, num_runs=2)
    train(backend, 1, KL, CONTROL)
    backend.reset_reference()
    train(backend, 1, KL, CONTROL)
    buffer = io.BytesIO()
    torch.save(backend.state_dict(), buffer)
    continued = train(backend, 2, KL, CONTROL)
    restored = ToyLMBackend(config, num_runs=2)
    buffer.seek(0)
    restored.load_state_dict(torch.load(buffer))
    assert torch.equal(train(restored, 2, KL, CONTROL), continued)


def test_a_backend_without_reference_refuses_a_reset_and_a_state_with_one(tiny) -> None:
    config = tiny()
    without = ToyLMBackend(tiny(use_reference=False), num_runs=1)
    with pytest.raises(ValueError, match="use_reference=false: the toy LM has no reference to reset"):
        without.reset_reference()
    with pytest.raises(ValueError, match=r"disagree on having a reference \(backend.use_reference\)"):
        without.load_state_dict(ToyLMBackend(config, num_runs=1).state_dict())
