"""Per-run entropy summary and histogram against torch.quantile and numpy.histogram, run by run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from entropic.metrics import entropy_histogram, entropy_summary

NUM_RUNS = 3


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Entropy ``[12, 9]``, a ragged mask and run ids with every run present."""
    generator = torch.Generator().manual_seed(seed)
    entropy = 3.0 * torch.rand(12, 9, generator=generator, dtype=torch.float64) ** 2
    mask = (torch.rand(12, 9, generator=generator) < 0.7).double()
    run = torch.arange(12) % NUM_RUNS
    return entropy, mask, run


def _valid_values(entropy: torch.Tensor, mask: torch.Tensor, run: torch.Tensor, r: int) -> torch.Tensor:
    return entropy[run == r][mask[run == r] > 0]


def test_summary_matches_per_run_reference() -> None:
    entropy, mask, run = _batch()
    summary = entropy_summary(entropy, mask, run, NUM_RUNS, quantiles=(0.1, 0.5, 0.9, 0.99, 0.999))
    assert set(summary) == {"entropy/mean", "entropy/p10", "entropy/p50", "entropy/p90", "entropy/p99",
                            "entropy/p99.9", "entropy/top20_mean"}
    for r in range(NUM_RUNS):
        values = _valid_values(entropy, mask, run, r)
        torch.testing.assert_close(summary["entropy/mean"][r], values.mean())
        for key, q in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)):
            torch.testing.assert_close(summary[f"entropy/{key}"][r], torch.quantile(values, q))
        top = values[values >= torch.quantile(values, 0.8)]
        torch.testing.assert_close(summary["entropy/top20_mean"][r], top.mean())


def test_row_weights_weight_the_means_only() -> None:
    entropy, mask, run = _batch(seed=4)
    weights = torch.rand(12, generator=torch.Generator().manual_seed(5), dtype=torch.float64) + 0.1
    weighted = entropy_summary(entropy, mask, run, NUM_RUNS, weights=weights)
    plain = entropy_summary(entropy, mask, run, NUM_RUNS)
    for r in range(NUM_RUNS):
        values = _valid_values(entropy, mask, run, r)
        token_weights = weights[run == r][:, None].expand(-1, 9)[mask[run == r] > 0]
        torch.testing.assert_close(weighted["entropy/mean"][r], (values * token_weights).sum() / token_weights.sum())
        top = values >= torch.quantile(values, 0.8)
        torch.testing.assert_close(weighted["entropy/top20_mean"][r],
                                   (values * token_weights)[top].sum() / token_weights[top].sum())
    torch.testing.assert_close(weighted["entropy/p50"], plain["entropy/p50"])


def test_summary_top_share_key_and_detached_output() -> None:
    entropy, mask, run = _batch(seed=1)
    summary = entropy_summary(entropy.requires_grad_(), mask, run, NUM_RUNS, quantiles=(), top_share=0.05)
    assert set(summary) == {"entropy/mean", "entropy/top5_mean"}
    assert not any(value.requires_grad for value in summary.values())


def test_summary_of_a_run_alone_equals_the_batched_summary() -> None:
    entropy, mask, run = _batch(seed=2)
    batched = entropy_summary(entropy, mask, run, NUM_RUNS)
    rows = run == 1
    alone = entropy_summary(entropy[rows], mask[rows], torch.zeros(int(rows.sum()), dtype=torch.long), 1)
    for key, value in alone.items():
        torch.testing.assert_close(batched[key][1:2], value)


def test_summary_of_an_empty_run() -> None:
    entropy, mask, run = _batch()
    mask[run == 2] = 0.0
    summary = entropy_summary(entropy, mask, run, NUM_RUNS)
    assert summary["entropy/mean"][2] == 0.0 and summary["entropy/top20_mean"][2] == 0.0
    assert torch.isnan(summary["entropy/p50"][2])
    assert torch.isfinite(summary["entropy/p50"][:2]).all()


@pytest.mark.parametrize(("quantiles", "top_share"), [((1.5,), 0.2), ((0.5,), 0.0), ((0.5,), 1.2)])
def test_summary_rejects_bad_levels(quantiles: tuple[float, ...], top_share: float) -> None:
    entropy, mask, run = _batch()
    with pytest.raises(ValueError, match="must lie in"):
        entropy_summary(entropy, mask, run, NUM_RUNS, quantiles=quantiles, top_share=top_share)


def test_histogram_matches_numpy_per_run() -> None:
    entropy, mask, run = _batch(seed=3)
    histogram = entropy_histogram(entropy, mask, run, NUM_RUNS, value_range=(0.0, 3.0), bins=7)
    assert histogram.counts.shape == (NUM_RUNS, 7)
    np.testing.assert_allclose(histogram.edges.numpy(), np.linspace(0.0, 3.0, 8))
    for r in range(NUM_RUNS):
        expected, _ = np.histogram(_valid_values(entropy, mask, run, r).numpy(), bins=7, range=(0.0, 3.0))
        np.testing.assert_array_equal(histogram.counts[r].numpy(), expected)


def test_histogram_counts_out_of_range_values_in_the_end_bins() -> None:
    entropy = torch.tensor([[-0.5, 0.1, 0.6, 2.0], [0.9, 1.0, 5.0, 0.2]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    histogram = entropy_histogram(entropy, mask, torch.tensor([0, 1]), 2, value_range=(0.0, 1.0), bins=2)
    torch.testing.assert_close(histogram.counts, torch.tensor([[2, 2], [0, 3]]))


@pytest.mark.parametrize(("value_range", "bins"), [((1.0, 1.0), 5), ((0.0, 1.0), 0)])
def test_histogram_rejects_bad_bins(value_range: tuple[float, float], bins: int) -> None:
    entropy, mask, run = _batch()
    with pytest.raises(ValueError):
        entropy_histogram(entropy, mask, run, NUM_RUNS, value_range=value_range, bins=bins)
