"""Clip-Cov and KL-Cov: hand-worked selections, verl reference with seeded RNGs, edge cases."""

from __future__ import annotations

import math

import pytest
import torch
from objectives_ref import batch_of, random_batch, ref_agg, ref_clip_cov, ref_kl_cov

from entropic.control import Control
from entropic.objectives import POLICY_LOSSES, Objective, ObjectiveConfig, PolicyBatch
from entropic.objectives.covariance import _topk_indices

CLIP_COV = POLICY_LOSSES.get("clip_cov").fn
KL_COV = POLICY_LOSSES.get("kl_cov").fn

# 1 x 4 hand-worked batch: mean logp = -2.5, mean A = 0, so cov = A * (logp + 2.5) = [3, 0.5, 0, 4.5].
LOGP = torch.tensor([[-1.0, -2.0, -3.0, -4.0]], dtype=torch.float64)
LOG_RATIO = torch.tensor([[0.1, 0.2, -0.3, 0.4]], dtype=torch.float64)
ADV = torch.tensor([[2.0, 1.0, 0.0, -3.0]], dtype=torch.float64)
R = [math.exp(x) for x in (0.1, 0.2, -0.3, 0.4)]


def _hand_batch() -> PolicyBatch:
    return batch_of(LOGP.clone().requires_grad_(), LOGP - LOG_RATIO, ADV)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_kl_cov_hand_worked() -> None:
    out = KL_COV(_hand_batch(), Control(kl_cov_ratio=0.5, ppo_kl_coef=1.0))
    # k = int(4 * 0.5) = 2: the two largest covariances are tokens 3 (4.5) and 0 (3)
    expected = torch.tensor([[-2 * R[0] + 0.1, -R[1], 0.0, 3 * R[3] + 0.4]], dtype=torch.float64)
    torch.testing.assert_close(out.token_loss, expected)
    torch.testing.assert_close(out.metrics["actor/kl_cov_frac"], torch.tensor([0.5], dtype=torch.float64))
    torch.testing.assert_close(out.metrics["actor/ppo_kl"], torch.tensor([0.25], dtype=torch.float64))



@pytest.mark.parametrize(("first_log_ratio", "ub", "expected"), [
    # only token 0 (cov 3) lies strictly inside (1, 4): max(1, int(2e-4 * 4)) = 1 token detached
    (0.1, 4.0, [0.0, -R[1], 0.0, 3 * R[3]]),
    # token 0 now has ratio 1.35 > 1.28 with A > 0: frozen by PPO, so not a candidate; token 3 (cov 4.5) is
    (0.3, 5.0, [-2 * 1.28, -R[1], 0.0, 0.0]),
])
def test_clip_cov_hand_worked(first_log_ratio: float, ub: float, expected: list[float]) -> None:
    control = Control(clip_ratio_high=0.28, clip_cov_ratio=2e-4, clip_cov_lb=1.0, clip_cov_ub=ub)
    log_ratio = LOG_RATIO.clone()
    log_ratio[0, 0] = first_log_ratio
    out = CLIP_COV(batch_of(LOGP, LOGP - log_ratio, ADV), control)
    # no dual clip in clip_cov: token 3 keeps 3 * e^0.4 although A < 0
    torch.testing.assert_close(out.token_loss, torch.tensor([expected], dtype=torch.float64))
    torch.testing.assert_close(out.metrics["actor/pg_clipfrac"], torch.tensor([0.25], dtype=torch.float64))
    torch.testing.assert_close(out.metrics["actor/pg_clipfrac"], torch.tensor([0.25], dtype=torch.float64))


def _clip_cov_case(B: int, T: int, seed: int, dtype: torch.dtype) -> PolicyBatch:
    return random_batch(B, T, seed, dtype, empty_row=B > 2, token_adv=seed % 2 == 0, spread=0.4)


@pytest.mark.parametrize(("ratio", "lb", "ub"), [(2e-4, 0.2, 5.0), (0.1, 0.05, 2.0), (0.5, -1.0, 1.0)])
@pytest.mark.parametrize(("B", "T", "seed"), [(4, 6, 0), (8, 12, 1), (16, 8, 2), (3, 20, 3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_clip_cov_matches_verl_reference(ratio: float, lb: float, ub: float, B: int, T: int, seed: int,
                                         dtype: torch.dtype) -> None:
    eps = (0.2, 0.28)
    control = Control(clip_ratio_low=eps[0], clip_ratio_high=eps[1], clip_cov_ratio=ratio,
                      clip_cov_lb=lb, clip_cov_ub=ub)
    batch = _clip_cov_case(B, T, seed, dtype)
    batch.generators = [_gen(seed + 100)]
    lib_tok = CLIP_COV(batch, control)

    batch.generators = [_gen(seed + 100)]
    loss, metrics = Objective(ObjectiveConfig(policy_loss="clip_cov"))(batch, control)
    (grad,) = torch.autograd.grad(loss.sum(), batch.log_probs)

    logp = batch.log_probs.detach().clone().requires_grad_()
    ref_tok, corr = ref_clip_cov(logp, batch.old_log_probs, batch.advantages, batch.mask, *eps, ratio, lb, ub,
                                 _gen(seed + 100))
    ref_loss = ref_agg(ref_tok, batch.mask, "token-mean")
    (ref_grad,) = torch.autograd.grad(ref_loss, logp)

    detached_ref = corr == 0
    assert detached_ref.any(), "the case should detach at least one token"
    ratio_t = torch.exp(logp - batch.old_log_probs).detach()
    full = torch.maximum(-batch.advantages * ratio_t, -batch.advantages * torch.clamp(ratio_t, 0.8, 1.28))
    detached_lib = (lib_tok.token_loss == 0) & (full != 0) & (batch.mask > 0)
    assert torch.equal(detached_lib, detached_ref)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {}
    torch.testing.assert_close(lib_tok.token_loss, ref_tok, **tol)
    torch.testing.assert_close(loss, ref_loss.reshape(1), **tol)
    torch.testing.assert_close(grad, ref_grad, **tol)
    expected_frac = detached_ref.sum() / batch.mask.sum()
    torch.testing.assert_close(metrics["actor/pg_clipfrac"], expected_frac.reshape(1).to(dtype), **tol)


def test_clip_cov_without_candidates_is_plain_clipped_ppo() -> None:
    batch = random_batch(6, 8, 0, spread=0.5)
    control = Control(clip_cov_lb=100.0, clip_cov_ub=200.0, clip_ratio_c=1.5)
    out = CLIP_COV(batch, control)
    ratio = torch.exp(batch.log_probs - batch.old_log_probs)
    A = batch.advantages
    # no dual clip in clip_cov, even though clip_ratio_c = 1.5 is set
    expected = torch.maximum(-A * ratio, -A * torch.clamp(ratio, 0.8, 1.2))
    torch.testing.assert_close(out.token_loss, expected)
    assert out.metrics["actor/pg_clipfrac"] == 0.0


@pytest.mark.parametrize(("ratio", "n_valid", "expected"), [(2e-4, 10, 1), (0.7, 10, 7), (0.3, 10, 3), (0.5, 9, 4)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_clip_cov_detaches_int_ratio_times_count(ratio: float, n_valid: int, expected: int,
                                                 dtype: torch.dtype) -> None:
    # every token is a candidate: n_clip = max(int(ratio * N), 1) with verl's float arithmetic
    logp = -torch.linspace(0.1, 2.0, n_valid, dtype=dtype).unsqueeze(0)
    adv = torch.linspace(0.5, 2.0, n_valid, dtype=dtype).unsqueeze(0)  # no zero advantage: loss 0 <=> detached
    batch = batch_of(logp, logp, adv, generators=[_gen(0)])
    out = CLIP_COV(batch, Control(clip_cov_ratio=ratio, clip_cov_lb=-100.0, clip_cov_ub=100.0))
    assert int((out.token_loss == 0).sum()) == expected


def test_clip_cov_global_rng_is_reproducible_when_seeded() -> None:
    batch = random_batch(8, 8, 4)
    control = Control(clip_cov_ratio=0.1, clip_cov_lb=0.0, clip_cov_ub=10.0)
    torch.manual_seed(7)
    first = CLIP_COV(batch, control).token_loss
    torch.manual_seed(7)
    assert torch.equal(first, CLIP_COV(batch, control).token_loss)


@pytest.mark.parametrize(("ratio", "coef"), [(2e-4, 1.0), (0.05, 0.1), (0.3, 2.0)])
@pytest.mark.parametrize(("B", "T", "seed"), [(4, 6, 0), (8, 12, 1), (16, 8, 2), (1, 1, 3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kl_cov_matches_verl_reference(ratio: float, coef: float, B: int, T: int, seed: int,
                                       dtype: torch.dtype) -> None:
    control = Control(kl_cov_ratio=ratio, ppo_kl_coef=coef)
    batch = random_batch(B, T, seed, dtype, empty_row=B > 2, token_adv=seed % 2 == 1)
    lib_tok = KL_COV(batch, control).token_loss
    loss, metrics = Objective(ObjectiveConfig(policy_loss="kl_cov", loss_agg_mode="seq-mean-token-mean"))(
        batch, control)
    (grad,) = torch.autograd.grad(loss.sum(), batch.log_probs)

    logp = batch.log_probs.detach().clone().requires_grad_()
    ref_tok, selected = ref_kl_cov(logp, batch.old_log_probs, batch.advantages, batch.mask, ratio, coef)
    ref_loss = ref_agg(ref_tok, batch.mask, "seq-mean-token-mean")
    (ref_grad,) = torch.autograd.grad(ref_loss, logp)

    base = -batch.advantages * torch.exp(batch.log_probs - batch.old_log_probs)
    assert torch.equal((lib_tok - base).detach().abs() > 0, selected)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {}
    torch.testing.assert_close(lib_tok, ref_tok, **tol)
    torch.testing.assert_close(loss, ref_loss.reshape(1), **tol)
    torch.testing.assert_close(grad, ref_grad, **tol)
    expected_frac = selected.sum() / batch.mask.sum()
    torch.testing.assert_close(metrics["actor/kl_cov_frac"], expected_frac.reshape(1).to(dtype), **tol)


@pytest.mark.parametrize(("ratio", "n_valid", "expected"), [(2e-4, 10, 1), (0.7, 10, 7), (0.3, 10, 3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kl_cov_penalises_int_ratio_times_count(ratio: float, n_valid: int, expected: int,
                                                dtype: torch.dtype) -> None:
    logp = -torch.linspace(0.1, 2.0, n_valid, dtype=dtype).unsqueeze(0)
    adv = torch.linspace(-1.0, 1.0, n_valid, dtype=dtype).unsqueeze(0)
    out = KL_COV(batch_of(logp, logp - 0.1, adv), Control(kl_cov_ratio=ratio))
    torch.testing.assert_close(out.metrics["actor/kl_cov_frac"], torch.tensor([expected / n_valid], dtype=dtype))


def test_kl_cov_on_policy_penalty_has_zero_gradient() -> None:
    batch = random_batch(6, 5, 1, token_adv=True)
    on_policy = batch_of(batch.log_probs, batch.log_probs.detach(), batch.advantages, batch.mask)
    control = Control(kl_cov_ratio=0.5, ppo_kl_coef=1.0)
    loss, metrics = Objective(ObjectiveConfig(policy_loss="kl_cov"))(on_policy, control)
    assert metrics["actor/kl_cov_frac"] > 0.4  # tokens are selected, yet |lr| = 0 contributes nothing
    (grad,) = torch.autograd.grad(loss.sum(), batch.log_probs)
    N = batch.mask.sum()
    torch.testing.assert_close(loss, -(batch.advantages * batch.mask).sum().reshape(1) / N)
    torch.testing.assert_close(grad, -batch.advantages * batch.mask / N)


def test_kl_cov_ratio_zero_selects_nothing_and_never_clips() -> None:
    batch = random_batch(5, 7, 2, spread=1.5)
    out = KL_COV(batch, Control(kl_cov_ratio=0.0, ppo_kl_coef=1.0))
    torch.testing.assert_close(out.token_loss, -batch.advantages * torch.exp(batch.log_probs - batch.old_log_probs))
    assert out.metrics["actor/kl_cov_frac"] == 0.0


@pytest.mark.parametrize(("n", "k"), [(7, 3), (512 * 4, 4), (512 * 4, 5), (524_288 + 77, 73), (100_000, 500)])
def test_block_prefiltered_topk_finds_the_k_largest(n: int, k: int) -> None:
    values = torch.randn(n, generator=torch.Generator().manual_seed(n + k))
    values[-3:] = 10.0 + torch.arange(3.0)  # the largest entries in the partial last block
    got = _topk_indices(values, k)
    assert got.shape == (k,)
    assert set(got.tolist()) == set(torch.topk(values, k).indices.tolist())
