"""GSPO (sequence ratio) and GPG / REINFORCE (ratio-free): verl reference, gradients, closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from objectives_ref import batch_of, random_batch, ref_agg, ref_gpg, ref_gspo

from entropic.control import Control
from entropic.objectives import AGG_MODES, POLICY_LOSSES, Objective, ObjectiveConfig

GSPO = POLICY_LOSSES.get("gspo").fn


@pytest.mark.parametrize("configured_mode", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"])
@pytest.mark.parametrize(("eps_low", "eps_high"), [(3e-4, 4e-4), (0.2, 0.28)])
@pytest.mark.parametrize(("B", "T", "seed"), [(1, 1, 0), (4, 6, 1), (8, 12, 2), (5, 3, 3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gspo_matches_verl_reference(configured_mode: str, eps_low: float, eps_high: float, B: int, T: int,
                                     seed: int, dtype: torch.dtype) -> None:
    control = Control(clip_ratio_low=eps_low, clip_ratio_high=eps_high)
    batch = random_batch(B, T, seed, dtype, empty_row=B > 2, token_adv=seed == 3, spread=0.1)
    loss, metrics = Objective(ObjectiveConfig(policy_loss="gspo", loss_agg_mode=configured_mode))(batch, control)
    (grad,) = torch.autograd.grad(loss.sum(), batch.log_probs)

    logp = batch.log_probs.detach().clone().requires_grad_()
    ref_tok = ref_gspo(logp, batch.old_log_probs, batch.advantages, batch.mask, eps_low, eps_high)
    ref_loss = ref_agg(ref_tok, batch.mask, configured_mode)  # verl 0.9.1 honours the configured mode
    (ref_grad,) = torch.autograd.grad(ref_loss, logp)

    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {}
    torch.testing.assert_close(GSPO(batch, control).token_loss, ref_tok, **tol)
    torch.testing.assert_close(loss, ref_loss.reshape(1), **tol)
    torch.testing.assert_close(grad, ref_grad, **tol)


def test_gspo_token_ratio_is_the_geometric_mean_sequence_ratio() -> None:
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.5, -9.0]], dtype=torch.float64)
    log_ratio = torch.tensor([[0.1, 0.2, 0.3], [-0.4, 0.2, 5.0]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]], dtype=torch.float64)  # padding ignored
    adv = -mask  # A < 0 and huge eps: L = s_b, unclipped
    out = GSPO(batch_of(logp, logp - log_ratio, adv, mask), Control(clip_ratio_low=0.99, clip_ratio_high=9.0))
    s = torch.tensor([[math.exp(0.2)] * 3, [math.exp(-0.1)] * 2 + [0.0]], dtype=torch.float64)
    torch.testing.assert_close(out.token_loss, s)


def _seq_ratio_batch(seed: int, row_log_ratio: list[float]) -> tuple[torch.Tensor, ...]:
    """Old log-probs whose masked mean log-ratio per row is exactly ``row_log_ratio``; A constant per row."""
    g = torch.Generator().manual_seed(seed)
    B, T = len(row_log_ratio), 4
    mask = torch.ones(B, T, dtype=torch.float64)
    mask[1, 3:] = 0.0
    noise = 0.3 * torch.randn(B, T, generator=g, dtype=torch.float64) * mask
    noise = noise - ((noise.sum(-1) / mask.sum(-1)).unsqueeze(-1)) * mask
    logp = -torch.rand(B, T, generator=g, dtype=torch.float64) - 0.1
    old = logp - (torch.tensor(row_log_ratio, dtype=torch.float64).unsqueeze(-1) + noise)
    adv = torch.randn(B, 1, generator=g, dtype=torch.float64).expand(B, T) * mask
    return logp, old, adv, mask


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gspo_gradcheck_sequence_advantages(seed: int) -> None:
    # with one advantage per sequence the stop-gradient token form has exactly the gradient of
    # the sequence-level objective it evaluates, so finite differences agree (away from the clip edges)
    rows = [math.log(0.5), 0.0, math.log(1.5), math.log(0.9), math.log(1.1)]
    logp, old, adv, mask = _seq_ratio_batch(seed, rows)
    objective = Objective(ObjectiveConfig(policy_loss="gspo"))
    control = Control(clip_ratio_low=0.2, clip_ratio_high=0.28)

    def fn(lp: torch.Tensor) -> torch.Tensor:
        return objective(batch_of(lp, old, adv, mask), control)[0]

    assert torch.autograd.gradcheck(fn, (logp.requires_grad_(),))


@pytest.mark.parametrize("name", ["gpg", "reinforce"])
@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize(("B", "T", "seed"), [(1, 1, 0), (4, 6, 1), (8, 12, 2)])
def test_gpg_matches_verl_reference(name: str, mode: str, B: int, T: int, seed: int) -> None:
    batch = random_batch(B, T, seed, empty_row=B > 2, token_adv=seed == 1)
    loss, _ = Objective(ObjectiveConfig(policy_loss=name, loss_agg_mode=mode))(batch, Control())
    (grad,) = torch.autograd.grad(loss.sum(), batch.log_probs)

    logp = batch.log_probs.detach().clone().requires_grad_()
    ref_loss = ref_agg(ref_gpg(logp, batch.advantages), batch.mask, mode)
    (ref_grad,) = torch.autograd.grad(ref_loss, logp)
    torch.testing.assert_close(loss, ref_loss.reshape(1))
    torch.testing.assert_close(grad, ref_grad)


@pytest.mark.parametrize("mode", AGG_MODES)
def test_gpg_gradcheck(mode: str) -> None:
    batch = random_batch(3, 5, 4, empty_row=True, token_adv=True)
    objective = Objective(ObjectiveConfig(policy_loss="gpg", loss_agg_mode=mode))

    def fn(lp: torch.Tensor) -> torch.Tensor:
        return objective(batch_of(lp, batch.old_log_probs, batch.advantages, batch.mask), Control())[0]

    assert torch.autograd.gradcheck(fn, (batch.log_probs.detach().clone().requires_grad_(),))


def test_gpg_ignores_the_ratio_and_every_clip() -> None:
    logp = torch.tensor([[-0.1, -3.0]], dtype=torch.float64, requires_grad=True)
    adv = torch.tensor([[2.0, -1.0]], dtype=torch.float64)
    old = logp.detach() - 5.0  # ratio e^5: far outside every clip
    loss, _ = Objective(ObjectiveConfig(policy_loss="gpg"))(batch_of(logp, old, adv), Control())
    torch.testing.assert_close(loss, torch.tensor([(0.2 - 3.0) / 2], dtype=torch.float64))
    (grad,) = torch.autograd.grad(loss.sum(), logp)
    torch.testing.assert_close(grad, -adv / 2)
