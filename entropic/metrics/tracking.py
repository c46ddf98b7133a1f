"""How well a controlled run held its entropy target: band membership, error, overshoot.

All functions take a trajectory ``[S, R]`` (steps x runs), e.g. ``entropy/mean`` read back from
``metrics.jsonl``, and return one value per run ``[R]``.
"""

from __future__ import annotations

import torch


def max_relative_error(trajectory: torch.Tensor, target: float, start: int) -> torch.Tensor:
    """``max_{k >= start} |y_k - target| / target`` per run ``[R]``."""
    return ((trajectory[start:] - target).abs() / abs(target)).amax(0)


def within_band(trajectory: torch.Tensor, target: float, start: int, tolerance: float = 0.1) -> torch.Tensor:
    """Bool ``[R]``: the run stayed within ``target * (1 +- tolerance)`` from step ``start`` to the end."""
    return max_relative_error(trajectory, target, start) <= tolerance


def first_crossing(trajectory: torch.Tensor, target: float) -> torch.Tensor:
    """Long ``[R]``: first step at which the run reached or crossed ``target`` from its start side (-1: never)."""
    above = trajectory >= target
    crossed = above != above[:1]
    crossed |= trajectory == target
    index = torch.where(crossed.any(0), crossed.float().argmax(0), torch.full_like(crossed[0], -1, dtype=torch.long))
    return index.long()


def min_after_crossing(trajectory: torch.Tensor, target: float) -> torch.Tensor:
    """``min_{k >= first crossing} y_k`` per run ``[R]`` (NaN for a run that never reached the target)."""
    crossing = first_crossing(trajectory, target)
    steps = torch.arange(trajectory.shape[0]).unsqueeze(-1)
    after = torch.where(steps >= crossing.clamp(min=0), trajectory, torch.full_like(trajectory, float("inf")))
    lowest = after.amin(0)
    return torch.where(crossing >= 0, lowest, torch.full_like(lowest, float("nan")))


def mean_absolute_error(trajectory: torch.Tensor, target: float, start: int) -> torch.Tensor:
    """``mean_{k >= start} |y_k - target|`` per run ``[R]``: the tracking error an objective can minimise."""
    return (trajectory[start:] - target).abs().mean(0)
