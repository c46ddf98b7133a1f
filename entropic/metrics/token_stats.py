"""Per-run token-entropy statistics for logging: mean, percentiles, top-share mean, histograms.

A scalar mean hides where the entropy sits (a few forking tokens carry most of it, "Beyond
the 80/20 Rule"), so every step logs the percentiles and the mean of the highest-entropy
share too. All statistics are taken per run over the valid tokens, like every reduction in
:mod:`entropic.reduce`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from entropic.objectives.modifiers import above_threshold
from entropic.reduce import masked_mean_per_run, quantile_per_run

DEFAULT_QUANTILES = (0.1, 0.5, 0.9, 0.99)
"""Percentiles logged by default: ``entropy/p10``, ``p50``, ``p90``, ``p99``."""

DEFAULT_TOP_SHARE = 0.2
"""Share of highest-entropy tokens averaged in ``entropy/top20_mean`` (the 80/20 split)."""


def quantile_key(q: float) -> str:
    """Metric name of quantile level ``q``: ``0.5 -> "entropy/p50"``, ``0.999 -> "entropy/p99.9"``."""
    return f"entropy/p{100 * q:g}"


def top_share_key(share: float) -> str:
    """Metric name of the top-share mean: ``0.2 -> "entropy/top20_mean"``."""
    return f"entropy/top{100 * share:g}_mean"


def entropy_summary(entropy: torch.Tensor, mask: torch.Tensor, run: torch.Tensor, num_runs: int,
                    quantiles: Sequence[float] = DEFAULT_QUANTILES, top_share: float = DEFAULT_TOP_SHARE,
                    weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Mean, percentiles and top-share mean of the token entropy, per run.

    Parameters
    ----------
    entropy : FloatTensor [B, T]
        Token entropy (exact or estimated); read detached.
    mask : FloatTensor [B, T]
        Valid tokens (0/1).
    run : LongTensor [B]
        Run of each row.
    num_runs : int
        R.
    quantiles : sequence of float, optional
        Quantile levels in ``[0, 1]`` (default 0.1, 0.5, 0.9, 0.99).
    top_share : float, optional
        Share of each run's valid tokens, by highest entropy, averaged in the top-share mean
        (default 0.2). Ties at the threshold are included, as in the ``top_entropy`` modifier.
    weights : FloatTensor [B], optional
        Row weights of an exact-expectation rollout (``Rollout.weights``); ``None`` = 1. They
        weight both means; quantiles and the top-share threshold count every valid token once.

    Returns
    -------
    dict[str, FloatTensor [R]]
        ``"entropy/mean"`` (masked token mean; 0 for a run without valid tokens),
        ``"entropy/p<100 q>"`` for each quantile (``torch.quantile``'s linear interpolation;
        NaN for a run without valid tokens) and ``"entropy/top<100 share>_mean"`` (0 for a
        run without valid tokens).
    """
    if not 0.0 < top_share <= 1.0:
        raise ValueError(f"top_share must lie in (0, 1], got {top_share}")
    values = entropy.detach()
    measure = mask if weights is None else mask * weights.unsqueeze(-1)
    summary = {"entropy/mean": masked_mean_per_run(values, measure, run, num_runs)}
    for q in quantiles:
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile levels must lie in [0, 1], got {q}")
    levels = torch.tensor([*quantiles, 1.0 - top_share], dtype=values.dtype, device=values.device)
    per_run = quantile_per_run(values, mask, run, num_runs, levels.expand(num_runs, -1).contiguous())  # [R, Q+1]
    for i, q in enumerate(quantiles):
        summary[quantile_key(q)] = per_run[:, i]
    top = above_threshold(values, mask, run, per_run[:, -1]).to(values.dtype)
    summary[top_share_key(top_share)] = masked_mean_per_run(values, measure * top, run, num_runs)
    return summary


class Histogram(NamedTuple):
    """Per-run histogram of token values.

    Attributes
    ----------
    counts : LongTensor [R, bins]
        Number of valid tokens of each run in each bin.
    edges : FloatTensor [bins + 1]
        Bin edges, shared by every run (TensorBoard ``add_histogram_raw`` ``bucket_limits``
        are ``edges[1:]``).
    """

    counts: torch.Tensor
    edges: torch.Tensor


def entropy_histogram(entropy: torch.Tensor, mask: torch.Tensor, run: torch.Tensor, num_runs: int,
                      value_range: tuple[float, float], bins: int = 50) -> Histogram:
    """Histogram of each run's valid token entropies over fixed, equal-width bins.

    Parameters
    ----------
    entropy : FloatTensor [B, T]
        Token entropy; read detached.
    mask : FloatTensor [B, T]
        Valid tokens (0/1).
    run : LongTensor [B]
        Run of each row.
    num_runs : int
        R.
    value_range : tuple of float
        ``(low, high)``, e.g. ``(0, log V)``: fixed so that steps and runs compare.
    bins : int, optional
        Number of bins (default 50).

    Returns
    -------
    Histogram
        ``counts [R, bins]`` and ``edges [bins + 1]``. Bins are ``[e_i, e_{i+1})``, the last one
        closed (as ``numpy.histogram``); values outside the range are counted in the end bins,
        so each run's counts sum to its number of valid tokens.
    """
    low, high = value_range
    if not high > low:
        raise ValueError(f"value_range must be (low, high) with high > low, got {value_range}")
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    valid = mask > 0
    values = entropy.detach()[valid]  # [N]
    runs = run.unsqueeze(-1).expand_as(entropy)[valid]  # [N]
    position = (values - low) / (high - low) * bins
    bin_index = position.floor().long().clamp(0, bins - 1)  # [N]
    flat = torch.bincount(runs * bins + bin_index, minlength=num_runs * bins)
    edges = torch.linspace(low, high, bins + 1, dtype=entropy.dtype, device=entropy.device)
    return Histogram(counts=flat.view(num_runs, bins), edges=edges)
