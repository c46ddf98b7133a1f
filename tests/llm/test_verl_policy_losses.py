"""``entropic_<name>`` in verl's registry gives verl's own loss and gradient on the same tensors.

The reference is verl 0.9.1's registered function of the same method (``get_policy_loss_fn("vanilla")``,
...), called with the same actor config, under every aggregation mode, for one process and for a
micro-batch of a data-parallel mini-batch (``global_batch_info`` set as verl's ``ppo_loss`` sets it).
"""

from __future__ import annotations

import pytest
import torch
from verl.trainer.ppo.core_algos import get_policy_loss_fn
from verl.workers.config import ActorConfig, PolicyLossConfig

import entropic.llm.verl.policy_losses  # noqa: F401  (registers entropic_*)
from entropic.objectives import AGG_MODES

TOL = {"rtol": 2e-5, "atol": 1e-6}
B, T = 24, 16
GLOBAL = {"dp_size": 2, "batch_num_tokens": 500, "global_batch_size": 2 * B, "loss_scale_factor": None}
"""One micro-batch of a mini-batch of 48 rows and 500 tokens over two ranks."""


def _tensors(seed: int) -> dict[str, torch.Tensor]:
    """Ragged rows (one empty), ratios far from 1 (both clips act), advantages of both signs."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    lengths[3] = 0
    mask = torch.arange(T)[None, :] < lengths[:, None]
    logp = -torch.rand(B, T, generator=g) * 3
    return {"old": logp + 0.7 * torch.randn(B, T, generator=g), "logp": logp,
            "adv": (2 * torch.randn(B, 1, generator=g)).expand(B, T) * mask, "mask": mask}


def _actor(mode: str, global_info: dict, **policy_loss: float) -> ActorConfig:
    actor = ActorConfig(strategy="fsdp", rollout_n=1, ppo_micro_batch_size_per_gpu=1, clip_ratio=0.2,
                        clip_ratio_low=0.2, clip_ratio_high=0.28, clip_ratio_c=3.0, loss_agg_mode=mode,
                        policy_loss=PolicyLossConfig(**policy_loss))
    actor.global_batch_info.update(global_info)
    return actor


def _loss_and_grad(name: str, x: dict[str, torch.Tensor], actor: ActorConfig, seed: int):
    logp = x["logp"].clone().requires_grad_()
    torch.manual_seed(seed)  # clip_cov draws its tokens from torch's global RNG, in verl and in entropic
    loss, metrics = get_policy_loss_fn(name)(old_log_prob=x["old"], log_prob=logp, advantages=x["adv"],
                                             response_mask=x["mask"], loss_agg_mode=actor.loss_agg_mode,
                                             config=actor)
    (grad,) = torch.autograd.grad(loss, logp)
    return loss.detach(), grad, metrics


def _compare(name: str, mode: str, global_info: dict, seed: int, **policy_loss: float) -> dict[str, float]:
    x = _tensors(seed)
    actor = _actor(mode, global_info, **policy_loss)
    theirs, their_grad, their_metrics = _loss_and_grad(name, x, actor, seed)
    ours, our_grad, our_metrics = _loss_and_grad(f"entropic_{name}", x, actor, seed)
    torch.testing.assert_close(ours, theirs, **TOL)
    torch.testing.assert_close(our_grad, their_grad, **TOL)
    assert our_grad.abs().sum() > 0
    for key in set(their_metrics) & set(our_metrics) - {"actor/pg_clipfrac_lower"}:
        assert our_metrics[key] == pytest.approx(their_metrics[key], rel=1e-4, abs=1e-6), key
    return their_metrics


SCOPES = {"one_process": {}, "data_parallel": GLOBAL}


@pytest.mark.parametrize("scope", sorted(SCOPES))
@pytest.mark.parametrize("mode", AGG_MODES)
def test_vanilla_with_clip_higher_and_dual_clip(mode: str, scope: str) -> None:
    metrics = _compare("vanilla", mode, SCOPES[scope], seed=0)
    assert metrics["actor/pg_clipfrac"] > 0 and metrics["actor/pg_clipfrac_lower"] > 0  # both clips act


@pytest.mark.parametrize("scope", sorted(SCOPES))
@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("name", ["gspo", "gpg"])
def test_gspo_and_gpg(name: str, mode: str, scope: str) -> None:
    _compare(name, mode, SCOPES[scope], seed=1)


@pytest.mark.parametrize("scope", sorted(SCOPES))
@pytest.mark.parametrize("mode", AGG_MODES)
def test_clip_cov_selects_a_few_of_many_candidates_as_verl_does(mode: str, scope: str) -> None:
    ratio, lb, ub = 0.02, 0.2, 5.0
    x = _tensors(2)
    mask = x["mask"].float()
    mean = lambda v: (v * mask).sum() / mask.sum()  # noqa: E731
    cov = (x["adv"] - mean(x["adv"])) * (x["logp"] - mean(x["logp"]))
    candidates = int(((cov > lb) & (cov < ub) & x["mask"]).sum())
    assert candidates > 2 * max(int(ratio * mask.sum()), 1)  # the random choice matters
    metrics = _compare("clip_cov", mode, SCOPES[scope], seed=2, clip_cov_ratio=ratio, clip_cov_lb=lb,
                       clip_cov_ub=ub)
    assert metrics["actor/pg_clipfrac"] > 0


@pytest.mark.parametrize("scope", sorted(SCOPES))
@pytest.mark.parametrize("mode", AGG_MODES)
def test_kl_cov(mode: str, scope: str) -> None:
    _compare("kl_cov", mode, SCOPES[scope], seed=3, kl_cov_ratio=0.05, ppo_kl_coef=1.0)


def test_dr_grpo_constant_normaliser() -> None:
    """``seq-mean-token-sum-norm`` divides by verl's ``loss_scale_factor`` when it is set."""
    _compare("vanilla", "seq-mean-token-sum-norm", {**GLOBAL, "loss_scale_factor": 7}, seed=4)


def test_rollout_correction_weights_are_refused() -> None:
    x = _tensors(0)
    with pytest.raises(ValueError, match=r"algorithm.rollout_correction"):
        get_policy_loss_fn("entropic_vanilla")(x["old"], x["logp"], x["adv"], x["mask"], "token-mean",
                                               _actor("token-mean", {}), torch.ones(B, T))
