"""The noise floor: zero where the batch entropy cannot vary, positive where sampling moves it, no update."""

from __future__ import annotations

import pytest
import torch

from entropic.llm import HFBackend, HFConfig
from entropic.sims import BanditConfig, SoftmaxBanditBackend
from entropic.tuning.sysid.noise import entropy_noise_floor


def test_a_bandit_scoring_every_prompt_has_no_entropy_noise() -> None:
    """Every rollout holds every prompt and the entropy is the policy's full-distribution one: the reading is
    the same each time, whatever is sampled."""
    config = BanditConfig(num_prompts=8, num_arms=6, num_correct=2, group_size=4, init_entropy=1.0)
    backend = SoftmaxBanditBackend(config, num_runs=3, seeds=[0, 1, 2])
    before = {name: p.clone() for name, p in backend.policy.params.items()}
    floor = entropy_noise_floor(backend, rollouts=5)
    assert floor.shape == (3,) and torch.equal(floor, torch.zeros(3))
    assert all(torch.equal(p, before[name]) for name, p in backend.policy.params.items())


def test_an_llm_batch_entropy_varies_with_its_samples() -> None:
    """At temperature 0.15 the untrained model is neither uniform nor peaked: its entropy varies by position."""
    backend = HFBackend(HFConfig(device="cpu", cache_dir="", n_layer=1, n_embd=32, pretrain_steps=0, init_accuracy=0.0,
                                 temperature=0.15, num_prompts=4, group_size=2, num_train_problems=64,
                                 num_eval_problems=4, eval_samples=2, eval_k=[1]))
    before = [p.clone() for p in backend.params]
    floor = entropy_noise_floor(backend, rollouts=6)
    assert floor.shape == (1,) and float(floor) > 0.01
    assert all(torch.equal(p, q) for p, q in zip(backend.params, before, strict=True))


def test_one_rollout_is_refused() -> None:
    with pytest.raises(ValueError, match="rollouts must be >= 2"):
        entropy_noise_floor(None, rollouts=1)
