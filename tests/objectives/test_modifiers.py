"""Token modifiers: pos/neg sample weights, top-entropy selection, off-policy sequence masking."""

from __future__ import annotations

import math

import pytest
import torch
from objectives_ref import batch_of, random_batch, ref_agg

from entropic.control import Control
from entropic.objectives import MODIFIERS, Objective, ObjectiveConfig, PolicyBatch
from entropic.objectives.modifiers import top_entropy_mask

SAMPLE_WEIGHT = MODIFIERS.get("sample_weight").fn
TOP_ENTROPY = MODIFIERS.get("top_entropy").fn
OFF_POLICY = MODIFIERS.get("off_policy_mask").fn


def _with(batch: PolicyBatch, **changes: torch.Tensor) -> PolicyBatch:
    fields = {k: getattr(batch, k) for k in ("log_probs", "old_log_probs", "advantages", "mask", "run",
                                             "num_runs", "entropy", "ref_log_probs", "sample_log_probs")}
    return PolicyBatch(**{**fields, **changes})


def test_sample_weight_hand_worked() -> None:
    adv = torch.tensor([[1.5, -2.0, 0.0]])
    batch = batch_of(torch.zeros(1, 3), torch.zeros(1, 3), adv)
    weight, _ = SAMPLE_WEIGHT(batch, Control(pos_weight=0.1, neg_weight=2.0))
    torch.testing.assert_close(weight, torch.tensor([[0.1, 2.0, 1.0]]))


@pytest.mark.parametrize("policy_loss", ["reinforce", "vanilla"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pos_weight_is_w_reinforce(policy_loss: str, seed: int) -> None:
    # pos_weight = 0.1 equals rescaling A -> 0.1 * A on the positive tokens
    batch = random_batch(6, 5, seed, token_adv=True, spread=0.4)
    weighted = Objective(ObjectiveConfig(policy_loss=policy_loss, modifiers=["sample_weight"]))
    loss, _ = weighted(batch, Control(pos_weight=0.1))
    (grad,) = torch.autograd.grad(loss.sum(), batch.log_probs)

    A = batch.advantages
    w_adv = torch.where(A > 0, 0.1 * A, A)
    logp = batch.log_probs.detach().clone().requires_grad_()
    plain_loss, _ = Objective(ObjectiveConfig(policy_loss=policy_loss))(
        batch_of(logp, batch.old_log_probs, w_adv, batch.mask), Control())
    (plain_grad,) = torch.autograd.grad(plain_loss.sum(), logp)
    torch.testing.assert_close(loss, plain_loss)
    torch.testing.assert_close(grad, plain_grad)


def test_psr_only_and_nsr_only() -> None:
    batch = random_batch(6, 4, 3)
    A = batch.advantages
    for control, kept in ((Control(neg_weight=0.0), A > 0), (Control(pos_weight=0.0), A < 0)):
        weight, _ = SAMPLE_WEIGHT(batch, control)
        tok = weight * -A * batch.log_probs.detach()
        torch.testing.assert_close(tok, torch.where(kept, -A * batch.log_probs.detach(), torch.zeros_like(A)))


def _entropy_batch(seed: int, rows: int = 7, T: int = 9, runs: int = 3) -> PolicyBatch:
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(rows, T, generator=g) > 0.25).double()
    entropy = torch.rand(rows, T, generator=g, dtype=torch.float64) * 2.0
    run = torch.arange(rows) % runs
    zeros = torch.zeros(rows, T, dtype=torch.float64)
    return PolicyBatch(log_probs=zeros, old_log_probs=zeros, advantages=zeros, mask=mask, run=run, num_runs=runs,
                       entropy=entropy)


@pytest.mark.parametrize("rho", [[0.2, 0.5, 1.0], [0.05, 0.8, 0.33], [1e-3, 0.999, 0.6]])
@pytest.mark.parametrize("seed", [0, 1])
def test_top_entropy_matches_torch_quantile_per_run(rho: list[float], seed: int) -> None:
    batch = _entropy_batch(seed)
    keep, metrics = TOP_ENTROPY(batch, Control(top_entropy_quantile=torch.tensor(rho, dtype=torch.float64)))
    for r, q in enumerate(rho):
        rows = batch.run == r
        valid = batch.mask[rows] > 0
        values = batch.entropy[rows][valid]
        threshold = torch.quantile(values, 1.0 - q)
        expected = (batch.entropy[rows] >= threshold) & valid
        assert torch.equal(keep[rows] > 0, expected)
        # distinct values: the kept count is n - ceil((1 - rho) * (n - 1))
        n = values.numel()
        assert int(expected.sum()) == n - math.ceil((1.0 - q) * (n - 1) - 1e-9)
        torch.testing.assert_close(metrics["actor/top_entropy_keep_frac"][r], expected.sum() / n,
                                   check_dtype=False)
    assert torch.equal(keep[batch.mask == 0], torch.zeros_like(keep[batch.mask == 0]))


@pytest.mark.parametrize(("n", "rho", "kept"), [(11, 0.9, 10), (41, 0.65, 27), (41, 0.9, 37), (10, 0.2, 2),
                                            (11, 0.2, 3), (11, 0.5, 6), (7, 0.999, 6), (7, 1.0, 7), (7, 1e-3, 1)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_top_entropy_count_with_float_knob(n: int, rho: float, kept: int, dtype: torch.dtype) -> None:
    # kept = n - ceil((1 - rho) * (n - 1)); float32 entropies must not round 1 - rho differently
    # from torch.quantile(x, 1 - rho) (rank exactly on an integer for 11 x 0.9 and 41 x 0.65)
    entropy = torch.randperm(n, generator=torch.Generator().manual_seed(n)).to(dtype).unsqueeze(0) / n
    zeros = torch.zeros_like(entropy)
    batch = batch_of(zeros, zeros, zeros, entropy=entropy)
    keep, _ = TOP_ENTROPY(batch, Control(top_entropy_quantile=rho))
    assert torch.equal(keep > 0, entropy >= torch.quantile(entropy[0], 1 - rho))
    assert int(keep.sum()) == kept


def test_top_entropy_keeps_ties_at_threshold() -> None:
    entropy = torch.tensor([[0.1, 0.5, 0.5, 0.5, 0.9]])
    mask = torch.ones_like(entropy)
    run = torch.zeros(1, dtype=torch.long)
    # quantile 0.5 of the five values is 0.5: all three tied tokens are kept (3 + 1 of 5 > 50%)
    keep = top_entropy_mask(entropy, mask, run, 1, torch.tensor([0.5]))
    assert keep.tolist() == [[False, True, True, True, True]]
    # rho -> 0 keeps only the maximum (all of it if tied)
    tied_max = torch.tensor([[0.9, 0.2, 0.9, 0.3]])
    keep = top_entropy_mask(tied_max, torch.ones_like(tied_max), run, 1, torch.tensor([1e-6]))
    assert keep.tolist() == [[True, False, True, False]]


def test_top_entropy_rho_one_keeps_every_valid_token() -> None:
    batch = _entropy_batch(4)
    keep, _ = TOP_ENTROPY(batch, Control())
    assert torch.equal(keep, batch.mask)


def test_top_entropy_hand_count_and_denominator() -> None:
    # 10 distinct entropies, rho = 0.2: threshold at rank 7.2 -> the 2 largest kept
    entropy = torch.arange(10, dtype=torch.float64).flip(0).unsqueeze(0)
    adv = torch.ones(1, 10, dtype=torch.float64)
    logp = torch.zeros(1, 10, dtype=torch.float64, requires_grad=True)
    batch = batch_of(logp, logp.detach(), adv, entropy=entropy)
    objective = Objective(ObjectiveConfig(modifiers=["top_entropy"]))
    loss, metrics = objective(batch, Control(top_entropy_quantile=0.2))
    torch.testing.assert_close(metrics["actor/top_entropy_keep_frac"], torch.tensor([0.2], dtype=torch.float64))
    torch.testing.assert_close(loss, torch.tensor([-2 / 10], dtype=torch.float64))  # denominator: all 10 tokens
    (grad,) = torch.autograd.grad(loss.sum(), logp)
    torch.testing.assert_close(grad, torch.tensor([[-0.1, -0.1] + [0.0] * 8], dtype=torch.float64))


def test_top_entropy_needs_entropy() -> None:
    batch = random_batch(2, 3, 0)
    with pytest.raises(ValueError, match="entropy"):
        TOP_ENTROPY(batch, Control())


def test_off_policy_mask_hand_worked() -> None:
    # kl_seq = mean over valid tokens of (sample_logp - logp)
    logp = torch.zeros(5, 2, dtype=torch.float64)
    sample = torch.tensor([[0.6, 0.6], [0.6, 0.6], [0.6, 0.6], [0.2, 0.4], [0.6, 5.0]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    adv = torch.tensor([-1.0, 0.0, 1.0, -1.0, -1.0], dtype=torch.float64).unsqueeze(-1) * mask
    batch = batch_of(logp, torch.zeros_like(logp), adv, mask, sample_log_probs=sample)
    weight, metrics = OFF_POLICY(batch, Control(off_policy_mask_threshold=0.5))
    # row 0: A < 0, kl 0.6 > 0.5 -> dropped; row 1: A == 0 kept; row 2: A > 0 kept;
    # row 3: kl 0.3 <= 0.5 kept; row 4: kl 0.6 (padding ignored) -> dropped
    assert weight[:, 0].tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    torch.testing.assert_close(metrics["actor/off_policy_masked_frac"], torch.tensor([3 / 9], dtype=torch.float64))


@pytest.mark.parametrize("use_sampler", [True, False])
@pytest.mark.parametrize(("delta", "seed"), [(0.0, 0), (0.05, 1), (-0.1, 2), (math.inf, 3)])
def test_off_policy_mask_drops_exactly_stale_negative_sequences(use_sampler: bool, delta: float, seed: int) -> None:
    batch = random_batch(12, 6, seed, spread=0.3, empty_row=True)
    if not use_sampler:
        batch = _with(batch, sample_log_probs=None)
    weight, _ = OFF_POLICY(batch, Control(off_policy_mask_threshold=delta))
    behaviour = batch.sample_log_probs if use_sampler else batch.old_log_probs
    lengths = batch.mask.sum(-1).clamp(min=1)
    kl_seq = ((behaviour - batch.log_probs.detach()) * batch.mask).sum(-1) / lengths
    seq_adv = batch.advantages[:, 0]
    dropped = (seq_adv < 0) & (kl_seq > delta)
    assert torch.equal(weight, (~dropped).double().unsqueeze(-1).expand_as(weight))
    if math.isinf(delta):
        assert not dropped.any()


def test_off_policy_mask_applies_to_policy_loss_only() -> None:
    batch = random_batch(6, 4, 5, spread=1.0)
    control = Control(off_policy_mask_threshold=-10.0, kl_loss_coef=0.3)  # drops every negative sequence
    cfg = ObjectiveConfig(policy_loss="reinforce", modifiers=["off_policy_mask"], terms=["kl"], kl_loss_type="k2")
    loss, _ = Objective(cfg)(batch, control)
    A, logp, mask = batch.advantages, batch.log_probs, batch.mask
    keep = (A[:, :1] >= 0).double()
    expected = ref_agg(-A * logp * keep, mask, "token-mean") + 0.3 * ref_agg(
        0.5 * (logp - batch.ref_log_probs) ** 2, mask, "token-mean")
    torch.testing.assert_close(loss, expected.reshape(1))
