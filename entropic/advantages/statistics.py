"""Vectorised group statistics and per-run whitening behind the advantage estimators.

Groups (prompts) are the :class:`~entropic.reduce.Segments` of ``rollout.group``; every
group statistic is a pairwise fold or a max/min over the group's rows, with no Python loop over
groups, so a run's groups get the same numbers whether the run is alone or batched with others.
Batch-level statistics (whitening) are taken per run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from entropic._memo import memo
from entropic.protocol import Rollout
from entropic.reduce import Segments, gather_runs, id_segments, indicator, masked_mean_per_run, sum_per_run

WHITEN_EPS = 1e-8
"""verl ``masked_whiten``: ``(x - mean) * rsqrt(var + 1e-8)``."""


def _mixed_groups(segments: Segments, run: torch.Tensor) -> torch.Tensor:
    """LongTensor of the groups holding rows of more than one run (empty when ids are unique across runs)."""
    stray = segments.rows(segments.first(run)) != run  # [B]: rows of another run than their group's first
    return torch.unique(segments.index[stray]) if bool(stray.any()) else stray.new_zeros(0, dtype=torch.long)


@dataclass(frozen=True)
class Groups:
    """The rows of a batch numbered by group (prompt).

    Attributes
    ----------
    segments : Segments
        Rows of each group (groups numbered in increasing id order).
    size : FloatTensor [K]
        Rows per group.
    """

    segments: Segments
    size: torch.Tensor

    @classmethod
    def of(cls, rollout: Rollout, dtype: torch.dtype) -> Groups:
        """Number the groups of ``rollout``; ``size`` gets ``dtype``.

        Raises ``ValueError`` when a group id holds rows of several runs (ids must be unique across runs).
        """
        segments, ids = id_segments(rollout.group)
        run = rollout.run_ids()
        mixed = memo(rollout.group, "mixed_groups", (run,), lambda: _mixed_groups(segments, run))
        if mixed.numel():
            raise ValueError(f"Rollout.group ids must be unique across runs; ids {ids[mixed].tolist()} "
                             f"hold rows of several runs")
        return cls(segments, segments.counts.to(dtype))

    @property
    def num_groups(self) -> int:
        """K, the number of distinct group ids."""
        return self.segments.num_segments

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Sum row values ``[B]`` over each group: ``[K]``."""
        return self.segments.sum(values)

    def rows(self, values: torch.Tensor) -> torch.Tensor:
        """Broadcast group values ``[K]`` to their rows: ``[B]``."""
        return self.segments.rows(values)

    def centre(self, values: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
        """Row values ``[B]`` minus their group's ``centre`` ``[K]``: ``[B]``."""
        return self.segments.combine(torch.sub, values, centre)

    def reduce(self, values: torch.Tensor, how: str) -> torch.Tensor:
        """``"amax"`` or ``"amin"`` of row values ``[B]`` over each group: ``[K]``."""
        return self.segments.amax(values) if how == "amax" else self.segments.amin(values)

    def mean(self, values: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Weighted mean ``sum_b w_b v_b / sum_b w_b`` of each group (plain mean without ``weights``).

        Computed around the group maximum, ``max_g + mean_g(v - max_g)``, so the mean of a group of
        equal values is that value exactly and its centred values are exactly 0. A group of zero total
        weight gets its maximum (no NaN).

        Parameters
        ----------
        values : FloatTensor [B]
            Row values.
        weights : FloatTensor [B], optional
            Row weights (>= 0); ``None`` = 1.

        Returns
        -------
        FloatTensor [K]
        """
        reference = self.reduce(values, "amax")  # [K]
        offsets = self.segments.combine(torch.sub, values, reference)  # [B]
        if weights is None:  # every group has a row
            return reference + self.sum(offsets) / self.size
        total = self.sum(weights)
        return reference + self.sum(weights * offsets) / (total + indicator(torch.eq, total, 0.0))

    def sampled_mean(self, values: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`mean` ``[K]`` of row values ``[B]`` (weighted by ``weights`` ``[B]`` when given) with
        verl's singleton rule: a group of one row has mean 0."""
        return self.mean(values, weights) * indicator(torch.gt, self.size, 1.0)

    def sample_std(self, centred: torch.Tensor) -> torch.Tensor:
        """Unbiased std ``sqrt(sum c^2 / (n - 1))`` of centred row values ``[B]`` per group: ``[K]``.

        A group of one row gets 1 (verl's loop ``compute_grpo_outcome_advantage``).
        """
        variance = self.sum(centred**2) / (self.size - 1).clamp(min=1)
        several = indicator(torch.gt, self.size, 1.0)
        return variance.sqrt() * several + (1.0 - several)

    def population_std(self, centred: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Weighted population std ``sqrt(sum w c^2 / sum w)`` of centred row values ``[B]``: ``[K]``."""
        total = self.sum(weights)
        return (self.sum(weights * centred**2) / torch.where(total > 0, total, torch.ones_like(total))).sqrt()


def masked_whiten_per_run(values: torch.Tensor, mask: torch.Tensor, run: torch.Tensor,
                          num_runs: int) -> torch.Tensor:
    """verl ``masked_whiten`` over the valid tokens of each run separately.

    ``(x - mean_r) * rsqrt(var_r + 1e-8)`` with ``mean_r`` the masked mean of run r (verl's ``+1e-8``
    guard) and ``var_r`` its unbiased masked variance (times ``n_r / (n_r - 1)``, ``n_r`` = valid
    tokens of run r). A run with fewer than 2 valid tokens has no variance: its values are only
    centred, not scaled (verl raises instead); with no valid token at all they are returned as they are.

    Parameters
    ----------
    values : FloatTensor [B, T]
        Values to whiten.
    mask : FloatTensor [B, T]
        Valid tokens.
    run : LongTensor [B]
        Run of each row.
    num_runs : int
        R.

    Returns
    -------
    FloatTensor [B, T]
        Whitened values, also on masked positions (multiply by ``mask`` afterwards, as verl does).
    """
    mean = masked_mean_per_run(values, mask, run, num_runs)  # [R]
    centred = values - gather_runs(mean, run).unsqueeze(-1)  # [B, T]
    tokens = sum_per_run(mask.sum(-1), run, num_runs)  # [R]
    bessel = tokens / (tokens - 1).clamp(min=1)
    variance = masked_mean_per_run(centred**2, mask, run, num_runs) * bessel  # [R]
    scale = torch.where(tokens >= 2, torch.rsqrt(variance + WHITEN_EPS), torch.ones_like(variance))
    return centred * gather_runs(scale, run).unsqueeze(-1)
