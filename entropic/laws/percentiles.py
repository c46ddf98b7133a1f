"""Entropy and pass@k per token-entropy percentile.

A mean entropy hides where it sits: the 80/20 paper (arXiv 2506.01939) finds a minority of
high-entropy "forking" tokens carrying the exploration. Two views:

- :func:`entropy_percentile_curves`: the token-entropy percentiles the loop logs every step
  (``entropy/p10`` ... ``entropy/p99``), as curves over training;
- :func:`passk_by_entropy_bucket`: the batch's prompts split by their mean token entropy into
  equal-count buckets (lowest to highest), with each bucket's pass@k, live from a step's rollout.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from entropic.laws.records import RunRecords
from entropic.metrics import pass_at_k, pass_at_k_from_probability
from entropic.protocol import Rollout, TokenStats

_PERCENTILE = re.compile(r"^entropy/p(\d+(?:\.\d+)?)$")


def entropy_percentile_curves(records: RunRecords) -> dict[float, np.ndarray]:
    """Percentile level (0-100) -> ``[S, R]`` curve, for every ``entropy/p<q>`` metric in ``records``."""
    curves = {}
    for name in records.metrics:
        match = _PERCENTILE.match(name)
        if match:
            curves[float(match.group(1))] = records[name]
    return dict(sorted(curves.items()))


def bucket_key(k: int, bucket: int) -> str:
    """Metric name of pass@k in entropy bucket ``bucket`` (0 = lowest entropy)."""
    return f"laws/pass@{k}/bucket{bucket}"


def passk_by_entropy_bucket(rollout: Rollout, stats: TokenStats, ks: tuple[int, ...] = (1,),
                            num_buckets: int = 4) -> dict[str, torch.Tensor]:
    """pass@k of the batch's prompts split into entropy buckets, per run.

    Prompts (groups) are ranked within their run by the mean entropy of their valid tokens and cut
    into ``num_buckets`` equal-count buckets. A response is correct when its reward is > 0.
    Sampled rollouts use the unbiased estimator with ``n = G`` (``k`` above a group's size is
    skipped); weighted (exact) rollouts use ``1 - (1 - p)^k`` with ``p`` the group's expected reward.

    Returns
    -------
    dict[str, FloatTensor [R]]
        :func:`bucket_key` ``(k, i)`` -> pass@k of bucket i, and ``laws/entropy/bucket<i>`` -> its mean
        entropy (NaN for a bucket without prompts).
    """
    if stats.entropy is None:
        return {}
    R = rollout.num_runs
    mask = rollout.mask
    weights = rollout.weights if rollout.weights is not None else torch.ones(rollout.batch_size, dtype=mask.dtype)
    groups, inverse = torch.unique(rollout.group, return_inverse=True)
    num_groups = groups.numel()

    def per_group(values: torch.Tensor) -> torch.Tensor:
        return torch.zeros(num_groups, dtype=torch.float64).index_add(0, inverse, values.double())

    token_weight = mask * weights.unsqueeze(-1)
    entropy = per_group((stats.entropy.detach() * token_weight).sum(-1)) / per_group(token_weight.sum(-1)).clamp(
        min=1e-30)
    correct = (rollout.sequence_rewards() > 0).double()
    group_run = torch.zeros(num_groups, dtype=torch.long).scatter(0, inverse, rollout.run_ids())
    if rollout.weights is None:
        n, c = per_group(torch.ones_like(correct)), per_group(correct)
    else:
        p = per_group(weights * correct) / per_group(weights).clamp(min=1e-30)
    out: dict[str, torch.Tensor] = {}
    for k in ks:
        if rollout.weights is None:
            value = torch.where(n >= k, pass_at_k(n.clamp(min=k), c, k), torch.nan)
        else:
            value = pass_at_k_from_probability(p.clamp(0.0, 1.0), k)
        out.update(_bucket_means(value, entropy, group_run, R, num_buckets, f"laws/pass@{k}"))
    out.update(_bucket_means(entropy, entropy, group_run, R, num_buckets, "laws/entropy"))
    return out


def _bucket_means(values: torch.Tensor, entropy: torch.Tensor, group_run: torch.Tensor, num_runs: int,
                  num_buckets: int, prefix: str) -> dict[str, torch.Tensor]:
    """Mean of the finite ``values [G]`` per (run, entropy bucket): ``{prefix/bucket<i>: [R]}``."""
    order = torch.argsort(entropy, stable=True)
    order = order[torch.argsort(group_run[order], stable=True)]  # by run, then by entropy
    counts = torch.bincount(group_run, minlength=num_runs)  # [R]
    starts = counts.cumsum(0) - counts
    position = torch.empty_like(order)
    position[order] = torch.arange(order.numel()) - starts[group_run[order]]
    bucket = position * num_buckets // counts[group_run].clamp(min=1)  # [G], equal-count buckets
    index = group_run * num_buckets + bucket
    finite = torch.isfinite(values)
    size = num_runs * num_buckets
    sums = torch.zeros(size, dtype=torch.float64).index_add(0, index[finite], values[finite].double())
    count = torch.zeros(size, dtype=torch.float64).index_add(0, index[finite],
                                                             torch.ones(int(finite.sum()), dtype=torch.float64))
    means = torch.where(count > 0, sums / count.clamp(min=1), torch.nan).view(num_runs, num_buckets)
    return {f"{prefix}/bucket{i}": means[:, i].float() for i in range(num_buckets)}
