"""``agg_loss``: hand-worked values, empty rows and runs, per-run sums, and row weights."""

from __future__ import annotations

import pytest
import torch
from objectives_ref import ref_agg

from entropic.objectives import AGG_MODES, agg_loss
from entropic.objectives.aggregation import linear_agg_loss

# Row 2 has an empty mask; T = 3.
LOSS = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize(("mode", "scale", "expected"), [
    ("token-mean", None, (1 + 2 + 4 + 5 + 6) / 5),                  # 18 / 5 tokens
    ("seq-mean-token-sum", None, ((1 + 2) + (4 + 5 + 6)) / 2),      # the empty row is not a sequence
    ("seq-mean-token-mean", None, ((1 + 2) / 2 + (4 + 5 + 6) / 3) / 2),
    ("token-sum", None, 1 + 2 + 4 + 5 + 6.0),
    ("seq-mean-token-sum-norm", None, 18 / 2 / 3),                  # 2 sequences, S = T = 3
    ("seq-mean-token-sum-norm", 4.0, 18 / 2 / 4),                   # S = loss_scale_factor
])
def test_hand_worked_modes(mode: str, scale: float | None, expected: float) -> None:
    out = agg_loss(LOSS, MASK, mode, loss_scale_factor=scale)
    assert out.shape == (1,)
    torch.testing.assert_close(out, torch.tensor([expected]), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", AGG_MODES)
def test_all_empty_mask_gives_zero_not_nan(mode: str) -> None:
    out = agg_loss(LOSS, torch.zeros_like(MASK), mode)
    assert torch.equal(out, torch.zeros(1))


def test_padding_values_are_ignored() -> None:
    noisy = torch.where(MASK > 0, LOSS, torch.full_like(LOSS, 1e6))
    for mode in AGG_MODES:
        assert torch.equal(agg_loss(noisy, MASK, mode), agg_loss(LOSS, MASK, mode))


@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference(mode: str, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    loss = torch.randn(5, 7, generator=g, dtype=torch.float64)
    mask = (torch.rand(5, 7, generator=g) > 0.4).double()
    mask[2] = 0.0
    torch.testing.assert_close(agg_loss(loss, mask, mode), ref_agg(loss, mask, mode).reshape(1))
    torch.testing.assert_close(agg_loss(loss, mask, mode, loss_scale_factor=2.5),
                               ref_agg(loss, mask, mode, scale=2.5).reshape(1))


@pytest.mark.parametrize("mode", AGG_MODES)
def test_per_run_equals_each_run_alone(mode: str) -> None:
    g = torch.Generator().manual_seed(3)
    loss = torch.randn(7, 4, generator=g, dtype=torch.float64)
    mask = (torch.rand(7, 4, generator=g) > 0.3).double()
    run = torch.tensor([2, 0, 1, 0, 2, 2, 0])
    batched = agg_loss(loss, mask, mode, run=run, num_runs=4)  # run 3 has no rows
    for r in range(3):
        rows = run == r
        torch.testing.assert_close(batched[r], agg_loss(loss[rows], mask[rows], mode)[0])
    assert batched[3] == 0.0


@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("seed", [0, 1])
def test_integer_weights_equal_repeated_rows(mode: str, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    loss = torch.randn(5, 6, generator=g, dtype=torch.float64)
    mask = (torch.rand(5, 6, generator=g) > 0.3).double()
    mask[1] = 0.0
    run = torch.tensor([0, 0, 1, 1, 1])
    counts = torch.tensor([2, 3, 1, 4, 0])  # weight 0 removes a row
    weighted = agg_loss(loss, mask, mode, run=run, num_runs=2, weights=counts.double())
    repeated = agg_loss(loss.repeat_interleave(counts, 0), mask.repeat_interleave(counts, 0), mode,
                        run=run.repeat_interleave(counts), num_runs=2)
    torch.testing.assert_close(weighted, repeated)


def test_gradient_of_token_mean_is_mask_over_count() -> None:
    loss = LOSS.clone().requires_grad_()
    agg_loss(loss, MASK, "token-mean").sum().backward()
    torch.testing.assert_close(loss.grad, MASK / 5)


def test_unknown_mode_names_field_and_allowed_values() -> None:
    with pytest.raises(ValueError, match="loss_agg_mode") as info:
        agg_loss(LOSS, MASK, "seq-mean")
    assert "token-mean" in str(info.value)


@pytest.mark.parametrize("mode", AGG_MODES)
def test_linear_aggregation_equals_the_aggregated_token_loss(mode: str) -> None:
    g = torch.Generator().manual_seed(11)
    logp = -torch.rand(7, 5, generator=g, dtype=torch.float64)
    coefficient = torch.randn(7, 5, generator=g, dtype=torch.float64)
    mask = (torch.rand(7, 5, generator=g) > 0.3).double()
    mask[3] = 0.0
    run, weights = torch.tensor([0, 1, 0, 1, 1, 0, 1]), torch.rand(7, generator=g, dtype=torch.float64) + 0.5
    fused_x, plain_x = logp.clone().requires_grad_(), logp.clone().requires_grad_()
    fused = linear_agg_loss(fused_x, coefficient, mask, mode, run, 2, 3.0, weights)
    plain = agg_loss(-coefficient * plain_x, mask, mode, run, 2, 3.0, weights)
    torch.testing.assert_close(fused, plain, rtol=1e-12, atol=1e-12)
    (fused * torch.tensor([1.0, -2.0], dtype=torch.float64)).sum().backward()
    (plain * torch.tensor([1.0, -2.0], dtype=torch.float64)).sum().backward()
    torch.testing.assert_close(fused_x.grad, plain_x.grad, rtol=1e-12, atol=1e-12)
