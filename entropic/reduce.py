"""Masked and per-run reductions shared by advantages, objectives and metrics.

A batch may hold ``R`` independent runs (rows tagged by ``run`` ids ``[B]``). Every
batch statistic in entropic (token means, covariances, quantiles, whitening) is
taken per run, so that a run sees the same numbers alone or batched. Rows are
reduced first (over ``T``), then folded into runs by :mod:`entropic.segments`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from entropic.control import Knob
from entropic.segments import memo, run_segments

EPS = 1e-8
"""verl's ``masked_mean`` guard: an empty mask gives 0, not NaN."""


def indicator(compare: Callable[..., torch.Tensor], a: torch.Tensor, b: torch.Tensor | float) -> torch.Tensor:
    """``compare(a, b)`` (``torch.gt``, ``torch.eq``, ...) as 0/1 in ``a``'s dtype and shape.

    Written straight into a float tensor: on CPU a bool result and its conversion, or a
    ``torch.where`` on it, cost several times a float multiply over the same elements.
    """
    return compare(a, b, out=torch.empty_like(a))


def select_valid(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x`` with its entries outside ``mask`` taken out by selection, not by a multiply: ``[B, T]``.

    A NaN or ``inf`` on padding (an LLM's log-prob of a pad token) would survive ``x * 0``; here
    it reaches neither a masked sum nor the gradient, which is exactly 0 outside the mask.
    On the CPU a ``torch.where`` costs ten multiplies, so a finite ``x`` is returned as it is
    (every consumer multiplies it by the mask, and a finite value times 0 is 0 in value and
    gradient) and only a non-finite one is selected; other devices always select (no host sync).
    """
    if x.device.type == "cpu" and math.isfinite(float(x.detach().sum())):
        return x
    return torch.where(mask != 0, x, torch.zeros((), dtype=x.dtype, device=x.device))


def safe_divide(total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """``total / count`` for a ``total`` that is 0 wherever ``count`` is: an empty run averages to 0, not NaN."""
    return total / torch.where(count > 0, count, 1.0)


def sum_per_run(rows: torch.Tensor, run: torch.Tensor, num_runs: int) -> torch.Tensor:
    """Sum row values ``[B]`` into their runs (pairwise, in row order): returns ``[R]``."""
    return run_segments(run, num_runs).sum(rows)


def row_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum ``[B, T]`` over ``T``: ``[B]`` (a view when ``T = 1``)."""
    return x.squeeze(-1) if x.shape[-1] == 1 else x.sum(-1)


def masked_sum_per_run(x: torch.Tensor, mask: torch.Tensor, run: torch.Tensor, num_runs: int) -> torch.Tensor:
    """``sum_{b in r, t} x * mask`` for each run r: ``[B, T] -> [R]``."""
    return sum_per_run(row_sum(apply_mask(x, mask)), run, num_runs)


def apply_mask(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x * mask``, or ``x`` itself when ``mask`` is all ones (checked once per mask tensor)."""
    if memo(mask, "all_ones", (), lambda: bool((mask == 1).all())):
        return x
    return x * mask


def masked_mean_per_run(x: torch.Tensor, mask: torch.Tensor, run: torch.Tensor, num_runs: int) -> torch.Tensor:
    """Per-run masked mean ``[B, T] -> [R]`` with verl's ``+1e-8`` guard (empty run -> 0)."""
    return masked_sum_per_run(x, mask, run, num_runs) / (masked_count_per_run(mask, run, num_runs) + EPS)


def masked_count_per_run(mask: torch.Tensor, run: torch.Tensor, num_runs: int) -> torch.Tensor:
    """``sum_{b in r, t} mask`` for each run r: ``[R]``, computed once per ``(mask, run)`` pair.

    A step's many masked means (loss, clip fractions, entropy, ...) share one denominator.
    """
    return memo(mask, f"count/{num_runs}", (run,), lambda: sum_per_run(row_sum(mask.detach()), run, num_runs))


def gather_runs(values: torch.Tensor, run: torch.Tensor) -> torch.Tensor:
    """Broadcast per-run values ``[R]`` to rows: ``[B]``."""
    return run_segments(run, values.shape[0]).rows(values)


def knob_per_row(value: Knob, run: torch.Tensor) -> float | torch.Tensor:
    """A control value for every row: the float itself, or ``value[run][:, None]`` as ``[B, 1]``."""
    if isinstance(value, torch.Tensor):
        return gather_runs(value.to(run.device), run).unsqueeze(-1)
    return float(value)


def knob_per_run(value: Knob, num_runs: int, like: torch.Tensor) -> torch.Tensor:
    """A control value as a tensor ``[R]`` (a float is repeated for every run)."""
    if isinstance(value, torch.Tensor):
        if value.shape[0] != num_runs:
            raise ValueError(f"control tensor has {value.shape[0]} runs, batch has {num_runs}")
        return value.to(device=like.device, dtype=like.dtype)
    return torch.full((num_runs,), float(value), dtype=like.dtype, device=like.device)


def quantile_per_run(x: torch.Tensor, mask: torch.Tensor, run: torch.Tensor, num_runs: int,
                     q: torch.Tensor) -> torch.Tensor:
    """Per-run quantiles of the valid entries, ``torch.quantile``'s linear interpolation.

    Each run's valid values are sorted once (a ``[R, W * T]`` table padded with ``+inf``), however
    many levels are asked for.

    Parameters
    ----------
    x : FloatTensor [B, T]
        Values (read detached).
    mask : FloatTensor [B, T]
        Valid entries.
    run : LongTensor [B]
        Run of each row.
    num_runs : int
        R.
    q : FloatTensor [R] or [R, Q]
        Quantile level(s) of each run, in [0, 1].

    Returns
    -------
    FloatTensor [R] or [R, Q]
        ``quantile(x[valid & run == r], q[r])``; NaN for a run with no valid entry.
    """
    segments = run_segments(run, num_runs)
    valid = mask > 0
    padded = torch.where(valid, x.detach(), torch.full_like(x, torch.inf))  # invalid entries sort last
    ordered = segments.table(padded, torch.inf).reshape(num_runs, -1).sort(-1).values  # [R, W * T]
    counts = segments.sum(valid.sum(-1).to(x.dtype))  # [R]
    levels = q.to(x.dtype).view(num_runs, -1)  # [R, Q]
    rank = levels * (counts - 1).clamp(min=0).unsqueeze(-1)
    below = rank.floor().long()
    low, high = ordered.gather(-1, below), ordered.gather(-1, rank.ceil().long())
    out = torch.lerp(low, high, rank - below)
    out = torch.where(counts.unsqueeze(-1) > 0, out, torch.full_like(out, torch.nan))
    return out.view(q.shape)
