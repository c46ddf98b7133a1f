"""Segments and the pairwise fold: hand-worked sums, layout independence, gradients, quantiles."""

from __future__ import annotations

import pytest
import torch

from entropic.reduce import Segments, fold_sum, quantile_per_run, run_segments, sum_per_run


def test_fold_adds_in_halves() -> None:
    # (1e8 + -1e8) + (1 + 1) = 2 exactly; a serial float32 sum loses both ones: ((1e8 + 1) - 1e8) + 1 = 1
    values = torch.tensor([[1e8, 1.0, -1e8, 1.0]])
    assert fold_sum(values).item() == 2.0
    assert ((values[0, 0] + values[0, 1]) - 1e8 + values[0, 3]).item() == 1.0


def test_fold_needs_a_power_of_two_width() -> None:
    with pytest.raises(ValueError, match="power-of-two width, got 3"):
        fold_sum(torch.zeros(2, 3))


def test_fold_gradient_is_the_broadcast_output_gradient() -> None:
    table = torch.randn(3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    assert torch.autograd.gradcheck(fold_sum, (table,))


def test_contiguous_layout_is_detected() -> None:
    assert Segments.of(torch.arange(3).repeat_interleave(4), 3).slots is None
    assert Segments.of(torch.tensor([0, 1, 0, 1]), 2).slots is not None


def test_a_segment_sum_does_not_depend_on_the_layout_or_the_other_segments() -> None:
    gen = torch.Generator().manual_seed(1)
    sizes = [5, 1, 9, 0, 3]
    rows = [torch.randn(n, generator=gen) * 10.0 ** torch.randint(-3, 4, (n,), generator=gen) for n in sizes]
    # interleave the segments' rows at random while keeping each segment's row order
    owner = torch.cat([torch.full((n,), s) for s, n in enumerate(sizes)])
    owner = owner[torch.randperm(owner.numel(), generator=gen)]
    values = torch.empty(owner.numel())
    for s, segment_rows in enumerate(rows):
        values[owner == s] = segment_rows
    batched = Segments.of(owner, len(sizes)).sum(values)
    for s, segment_rows in enumerate(rows):
        alone = Segments.of(torch.zeros(len(segment_rows), dtype=torch.long), 1).sum(segment_rows)
        assert torch.equal(alone[0], batched[s])
        assert batched[s].item() == pytest.approx(segment_rows.double().sum().item(), rel=1e-6, abs=1e-6)
    assert batched[3].item() == 0.0


def test_contiguous_and_general_layouts_give_the_same_bits() -> None:
    gen = torch.Generator().manual_seed(2)
    values = torch.randn(4 * 6, generator=gen)
    contiguous = Segments.contiguous(4, 6)
    general = Segments.of(torch.arange(4).repeat_interleave(6).flip(0), 4)  # same blocks, reversed numbering
    assert general.slots is not None
    assert torch.equal(contiguous.sum(values), general.sum(values.view(4, 6).flip(0).reshape(-1)))


def test_max_min_first_and_broadcast() -> None:
    index = torch.tensor([1, 0, 1, 2, 1])
    segments = Segments.of(index, 4)
    values = torch.tensor([3.0, -1.0, 7.0, 2.0, 5.0])
    assert segments.amax(values).tolist() == [-1.0, 7.0, 2.0, -torch.inf]
    assert segments.amin(values).tolist() == [-1.0, 3.0, 2.0, torch.inf]
    assert segments.first(values)[:3].tolist() == [-1.0, 3.0, 2.0]
    assert segments.rows(torch.tensor([10.0, 20.0, 30.0, 40.0])).tolist() == [20.0, 10.0, 20.0, 30.0, 20.0]
    assert segments.counts.tolist() == [1, 3, 1, 0]
    assert Segments.of(index, 4).amax(index).tolist()[:3] == [0, 1, 2]  # integer values get integer fills


def test_ids_in_sorted_blocks_skip_the_sort_and_number_like_unique() -> None:
    blocks = torch.tensor([4, 4, 9, 9, 12, 12])
    segments, ids = Segments.of_ids(blocks)
    assert segments.slots is None and ids.tolist() == [4, 9, 12]
    shuffled = torch.tensor([9, 4, 12, 4, 9, 12])
    segments, ids = Segments.of_ids(shuffled)
    distinct, inverse = torch.unique(shuffled, return_inverse=True)
    assert torch.equal(ids, distinct) and torch.equal(segments.index, inverse)


def test_run_segments_are_computed_once_per_tensor_and_again_after_an_in_place_change() -> None:
    run = torch.arange(2).repeat_interleave(3)
    first = run_segments(run, 2)
    assert run_segments(run, 2) is first
    run[0] = 1
    changed = run_segments(run, 2)
    assert changed is not first and changed.slots is not None
    assert sum_per_run(torch.ones(6), run, 2).tolist() == [2.0, 4.0]


def test_quantiles_of_every_run_at_several_levels_match_torch_quantile() -> None:
    gen = torch.Generator().manual_seed(3)
    R, B, T = 3, 12, 4
    x = torch.randn(B, T, generator=gen)
    mask = (torch.rand(B, T, generator=gen) < 0.7).float()
    run = torch.randint(0, R, (B,), generator=gen)
    run[run == 2] = 1  # run 2 has no rows at all
    levels = torch.rand(R, 5, generator=gen, dtype=torch.float64)
    got = quantile_per_run(x, mask, run, R, levels)
    assert got.shape == (R, 5)
    for r in range(2):
        valid = x[run == r][mask[run == r] > 0]
        expected = torch.quantile(valid, levels[r].float())
        assert torch.allclose(got[r], expected, rtol=0, atol=1e-6)
    assert torch.isnan(got[2]).all()
    single = quantile_per_run(x, mask, run, R, levels[:, 0])
    assert single.shape == (R,) and torch.equal(single[:2], got[:2, 0])


def test_combine_broadcasts_segment_values_in_either_layout() -> None:
    values = torch.arange(6.0)
    per_segment = torch.tensor([10.0, 20.0, 30.0])
    expected = [-10.0, -9.0, -18.0, -17.0, -26.0, -25.0]
    assert Segments.contiguous(3, 2).combine(torch.sub, values, per_segment).tolist() == expected
    general = Segments.of(torch.tensor([0, 0, 1, 1, 2, 2]).flip(0), 3)
    assert general.combine(torch.sub, values, per_segment.flip(0)).tolist() == expected


def test_rank_counts_a_rows_earlier_rows_of_its_segment() -> None:
    index = torch.tensor([2, 0, 2, 1, 0, 2, 1])
    expected = [sum(1 for earlier in index[:b].tolist() if earlier == s) for b, s in enumerate(index.tolist())]
    assert Segments.of(index, 3).rank.tolist() == expected == [0, 0, 1, 0, 1, 2, 1]
    assert Segments.contiguous(3, 2).rank.tolist() == [0, 1, 0, 1, 0, 1]
    assert Segments.of(torch.tensor([0, 0, 1, 1]), 2).rank.tolist() == [0, 1, 0, 1]  # detected contiguous
