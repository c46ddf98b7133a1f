"""Parity with the installed verl 0.9.1 itself (``make install`` installs it; skipped where it is not importable).

The other objective tests compare with literal transcriptions of verl's formulas; this one calls
``verl.trainer.ppo.core_algos`` on the same float32 tensors (seeds 0-2, shapes [16, 32] and
[64, 128], ragged masks with empty rows) and compares values and gradients w.r.t. the log-probs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from entropic.advantages import AdvantageConfig, compute_advantages
from entropic.control import Control
from entropic.objectives import AGG_MODES, Objective, ObjectiveConfig, PolicyBatch, agg_loss
from entropic.protocol import Rollout

core_algos = pytest.importorskip("verl.trainer.ppo.core_algos")
verl_config = pytest.importorskip("verl.workers.config")

CASES = [(16, 32, 0), (16, 32, 1), (64, 128, 2)]
TOL = {"rtol": 2e-5, "atol": 1e-6}


def _tensors(B: int, T: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, T + 1, (B,), generator=g)
    lengths[0] = 0  # an empty row
    mask = (torch.arange(T)[None, :] < lengths[:, None]).float()
    logp = -torch.rand(B, T, generator=g) * 3
    return {"logp": logp, "old": logp + 0.1 * torch.randn(B, T, generator=g),
            "adv": torch.randn(B, 1, generator=g).expand(B, T) * mask, "mask": mask}


def _actor(mode: str) -> object:
    return verl_config.ActorConfig(strategy="fsdp", rollout_n=1, ppo_micro_batch_size_per_gpu=1,
                                   clip_ratio=0.2, clip_ratio_low=0.2, clip_ratio_high=0.28, clip_ratio_c=3.0,
                                   loss_agg_mode=mode)


@pytest.mark.parametrize(("B", "T", "seed"), CASES)
@pytest.mark.parametrize("mode", AGG_MODES)
def test_agg_loss(mode: str, B: int, T: int, seed: int) -> None:
    x = _tensors(B, T, seed)
    loss = torch.randn(B, T, generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(agg_loss(loss, x["mask"], mode)[0], core_algos.agg_loss(loss, x["mask"], mode), **TOL)


@pytest.mark.parametrize(("B", "T", "seed"), CASES)
@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("loss_mode", ["vanilla", "gspo", "gpg"])
def test_policy_loss_value_and_gradient(loss_mode: str, mode: str, B: int, T: int, seed: int) -> None:
    x = _tensors(B, T, seed)
    ours = x["logp"].clone().requires_grad_()
    batch = PolicyBatch(log_probs=ours, old_log_probs=x["old"], advantages=x["adv"], mask=x["mask"],
                        run=torch.zeros(B, dtype=torch.long))
    loss, _ = Objective(ObjectiveConfig(policy_loss=loss_mode, loss_agg_mode=mode))(
        batch, Control(clip_ratio_low=0.2, clip_ratio_high=0.28))
    (grad,) = torch.autograd.grad(loss.sum(), ours)
    theirs = x["logp"].clone().requires_grad_()
    verl_loss, _ = core_algos.get_policy_loss_fn(loss_mode)(x["old"], theirs, x["adv"], x["mask"], mode, _actor(mode))
    (verl_grad,) = torch.autograd.grad(verl_loss, theirs)
    torch.testing.assert_close(loss[0], verl_loss, **TOL)
    torch.testing.assert_close(grad, verl_grad, **TOL)


@pytest.mark.parametrize(("B", "T", "seed"), CASES)
def test_reinforce_plus_plus_on_a_multi_turn_mask(B: int, T: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(B, T, generator=g) > 0.3).float()  # holes: observation spans
    rewards = torch.randn(B, T, generator=g) * mask
    rollout = Rollout(tokens=torch.zeros(B, T, dtype=torch.long), mask=mask, rewards=rewards,
                      group=torch.arange(B), old_log_probs=torch.zeros(B, T))
    ours = compute_advantages(rollout, AdvantageConfig(adv_estimator="reinforce_plus_plus", gamma=0.9))
    algo = core_algos.AlgoConfig(gamma=0.9)
    theirs, _ = core_algos.compute_reinforce_plus_plus_outcome_advantage(rewards, mask, config=algo)
    torch.testing.assert_close(ours, theirs, **TOL)


@pytest.mark.parametrize(("B", "T", "seed"), CASES)
@pytest.mark.parametrize("estimator", ["grpo", "grpo_vectorized", "rloo", "reinforce_plus_plus_baseline"])
def test_group_estimators(estimator: str, B: int, T: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    mask = (torch.arange(T)[None, :] < torch.randint(1, T + 1, (B,), generator=g)[:, None]).float()
    rewards = (torch.rand(B, generator=g) > 0.5).float()  # binary: no rounding residue in group means
    group = torch.arange(B) // 4
    group[-1] = B  # a singleton group
    rollout = Rollout(tokens=torch.zeros(B, T, dtype=torch.long), mask=mask, rewards=rewards, group=group,
                      old_log_probs=torch.zeros(B, T))
    ours = compute_advantages(rollout, AdvantageConfig(adv_estimator=estimator))
    token_rewards = torch.zeros(B, T)
    token_rewards[torch.arange(B), mask.sum(-1).long() - 1] = rewards
    theirs, _ = core_algos.get_adv_estimator_fn(estimator)(
        token_level_rewards=token_rewards, response_mask=mask, index=np.array(group.tolist()),
        config=core_algos.AlgoConfig())
    torch.testing.assert_close(ours, theirs, **TOL)
