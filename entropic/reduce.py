"""Masked and per-run reductions shared by advantages, objectives and metrics.

A batch may hold ``R`` independent runs (rows tagged by ``run`` ids ``[B]``). Every
batch statistic in entropic (token means, covariances, quantiles, whitening) is
taken per run, so that a run sees the same numbers alone or batched. Rows are
reduced first (over ``T``), then accumulated into runs in row order.
"""

from __future__ import annotations

import torch

from entropic.control import Knob

EPS = 1e-8
"""verl's ``masked_mean`` guard: an empty mask gives 0, not NaN."""


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``sum(x * mask) / (sum(mask) + 1e-8)`` over all elements (verl ``masked_mean``)."""
    return (x * mask).sum() / (mask.sum() + EPS)


def sum_per_run(rows: torch.Tensor, run: torch.Tensor, num_runs: int) -> torch.Tensor:
    """Sum row values ``[B]`` into their runs: returns ``[R]``."""
    out = torch.zeros(num_runs, dtype=rows.dtype, device=rows.device)
    return out.index_add(0, run, rows)


def masked_sum_per_run(x: torch.Tensor, mask: torch.Tensor, run: torch.Tensor, num_runs: int) -> torch.Tensor:
    """``sum_{b in r, t} x * mask`` for each run r: ``[B, T] -> [R]``."""
    return sum_per_run((x * mask).sum(-1), run, num_runs)


def masked_mean_per_run(x: torch.Tensor, mask: torch.Tensor, run: torch.Tensor, num_runs: int) -> torch.Tensor:
    """Per-run masked mean ``[B, T] -> [R]`` with verl's ``+1e-8`` guard (empty run -> 0)."""
    return masked_sum_per_run(x, mask, run, num_runs) / (masked_sum_per_run(
        torch.ones_like(mask), mask, run, num_runs) + EPS)


def gather_runs(values: torch.Tensor, run: torch.Tensor) -> torch.Tensor:
    """Broadcast per-run values ``[R]`` to rows: ``[B]``."""
    return values[run]


def knob_per_row(value: Knob, run: torch.Tensor) -> float | torch.Tensor:
    """A control value for every row: the float itself, or ``value[run][:, None]`` as ``[B, 1]``."""
    if isinstance(value, torch.Tensor):
        return value.to(run.device)[run].unsqueeze(-1)
    return float(value)


def knob_per_run(value: Knob, num_runs: int, like: torch.Tensor) -> torch.Tensor:
    """A control value as a tensor ``[R]`` (a float is repeated for every run)."""
    if isinstance(value, torch.Tensor):
        if value.shape[0] != num_runs:
            raise ValueError(f"control tensor has {value.shape[0]} runs, batch has {num_runs}")
        return value.to(device=like.device, dtype=like.dtype)
    return torch.full((num_runs,), float(value), dtype=like.dtype, device=like.device)


def rows_of_run(run: torch.Tensor, r: int) -> torch.Tensor:
    """LongTensor of the row indices that belong to run ``r``."""
    return torch.nonzero(run == r, as_tuple=False).squeeze(-1)


def quantile_per_run(x: torch.Tensor, mask: torch.Tensor, run: torch.Tensor, num_runs: int,
                     q: torch.Tensor) -> torch.Tensor:
    """Per-run quantile of the valid entries, ``torch.quantile``'s linear interpolation.

    Parameters
    ----------
    x : FloatTensor [B, T]
        Values (detached).
    mask : FloatTensor [B, T]
        Valid entries.
    run : LongTensor [B]
        Run of each row.
    num_runs : int
        R.
    q : FloatTensor [R]
        Quantile level of each run, in [0, 1].

    Returns
    -------
    FloatTensor [R]
        ``quantile(x[valid & run == r], q[r])``; NaN for a run with no valid entry.
    """
    valid = mask > 0
    values = x.detach()[valid]  # [N]
    runs = run.unsqueeze(-1).expand_as(x)[valid]  # [N]
    order = torch.argsort(values, stable=True)
    order = order[torch.argsort(runs[order], stable=True)]  # sorted by run, then by value
    ordered = values[order]
    counts = torch.bincount(runs, minlength=num_runs)  # [R]
    offsets = counts.cumsum(0) - counts
    rank = q.to(values.dtype) * (counts - 1).clamp(min=0)
    below = rank.floor().long()
    above = rank.ceil().long()
    last = max(ordered.numel() - 1, 0)
    if ordered.numel() == 0:
        return torch.full((num_runs,), float("nan"), dtype=x.dtype, device=x.device)
    low = ordered[(offsets + below).clamp(max=last)]
    high = ordered[(offsets + above).clamp(max=last)]
    out = torch.lerp(low, high, rank - below)
    return torch.where(counts > 0, out, torch.full_like(out, float("nan")))
