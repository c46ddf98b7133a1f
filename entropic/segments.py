"""Rows partitioned into segments (runs, groups), summed by a fixed pairwise tree.

Every per-run and per-group sum in entropic is a *fold*: the segment's rows, in row order, are
padded with zeros to a power of two and added in halves, ``x[:h] + x[h:]``, until one value is
left. Padding with more zeros changes nothing (``x + 0 == x``) and an elementwise add computes the
same bits whatever the tensor size or the thread count, so a segment's sum is a function of its
own rows only: a run gets the same numbers alone or among a thousand others, and the sum does not
change when the batch is laid out differently. Pairwise summation is also more accurate than
serial accumulation (error growing as ``log n`` rather than ``n``).

Two layouts give the same table ``[S, W]`` (segment x slot, ``W`` a power of two):

- contiguous: ``S`` segments of ``n`` rows, segment ``s`` the rows ``[s n, (s + 1) n)`` (every
  full rollout of the simulators): the table is a view of the rows, no index is built;
- general: any assignment of rows to segments, scattered into the table in row order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

_MEMO_ATTR = "_entropic_memo"


def _width(longest: int) -> int:
    """The smallest power of two ``>= max(longest, 1)``."""
    return 1 << max(longest - 1, 0).bit_length()


def _extreme(dtype: torch.dtype, highest: bool) -> float | int:
    """``+-inf`` for a floating dtype, the largest / smallest integer otherwise (empty-slot fill)."""
    if dtype.is_floating_point:
        return torch.inf if highest else -torch.inf
    info = torch.iinfo(dtype)
    return info.max if highest else info.min


def _fold(table: torch.Tensor) -> torch.Tensor:
    """Sum ``[S, W]`` over its last dimension by halves: ``[S]``."""
    width = table.shape[-1]
    while width > 1:
        width //= 2
        table = table[:, :width] + table[:, width:]
    return table[:, 0]


class _FoldSum(torch.autograd.Function):
    """Pairwise sum over the last dimension; the gradient of a sum is the output gradient broadcast.

    Written with ``forward(ctx, ...)``: a Function with a separate ``setup_context`` binds its
    arguments through ``inspect.signature`` on every call, tens of microseconds each.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, table: torch.Tensor) -> torch.Tensor:
        ctx.width = table.shape[-1]
        return _fold(table)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        return grad.unsqueeze(-1).expand(-1, ctx.width)


def fold_sum(table: torch.Tensor) -> torch.Tensor:
    """Sum ``[S, W]`` over its last dimension by halves (``W`` a power of two): ``[S]``.

    Differentiable; the backward pass broadcasts the output gradient (one expand, no per-level work).
    """
    width = table.shape[-1]
    if width & (width - 1):
        raise ValueError(f"fold_sum needs a power-of-two width, got {width}")
    if table.requires_grad and torch.is_grad_enabled():
        return _FoldSum.apply(table)
    return _fold(table)  # no graph to record: skip autograd.Function's per-call overhead


@dataclass(frozen=True)
class Segments:
    """An assignment of ``B`` rows to ``S`` segments, and the padded table it reduces through.

    Attributes
    ----------
    num_segments : int
        S.
    num_rows : int
        B.
    counts : LongTensor [S]
        Rows of each segment.
    width : int
        W, the table's slots per segment (a power of two ``>=`` the largest segment).
    rows_per_segment : int or None
        ``n`` when the layout is contiguous (segment ``s`` = rows ``[s n, (s + 1) n)``), else ``None``.
    slots : LongTensor [B] or None
        General layout: flat position ``segment * W + rank within the segment`` of each row.
    row_segment : LongTensor [B] or None
        General layout: segment of each row (see :attr:`index` for both layouts).
    """

    num_segments: int
    num_rows: int
    counts: torch.Tensor
    width: int
    rows_per_segment: int | None
    slots: torch.Tensor | None = None
    row_segment: torch.Tensor | None = None

    @classmethod
    def contiguous(cls, num_segments: int, rows_per_segment: int, device: torch.device | None = None) -> Segments:
        """``S`` consecutive blocks of ``n`` rows."""
        S, n = num_segments, rows_per_segment
        return cls(S, S * n, torch.full((S,), n, dtype=torch.long, device=device), _width(n), n)

    @classmethod
    def of(cls, index: torch.Tensor, num_segments: int) -> Segments:
        """Segments from each row's segment number ``index`` ``[B]`` (values in ``[0, S)``).

        Detects the contiguous layout (one comparison over the rows); otherwise ranks each row
        within its segment in row order (a stable sort).
        """
        S, B = num_segments, index.numel()
        if S and B % S == 0:
            n = B // S
            blocks = torch.arange(S, device=index.device).unsqueeze(-1).expand(S, n)
            if torch.equal(index.reshape(S, n), blocks):
                return cls.contiguous(S, n, index.device)
        counts = torch.bincount(index, minlength=S)
        if counts.numel() > S:
            raise ValueError(f"segment index holds values >= num_segments={S}")
        width = _width(int(counts.max()) if B else 0)
        order = torch.argsort(index, stable=True)
        starts = counts.cumsum(0) - counts
        ranks = torch.empty_like(index)
        ranks[order] = torch.arange(B, device=index.device) - starts[index[order]]
        return cls(S, B, counts, width, None, index * width + ranks, index)

    @classmethod
    def of_ids(cls, ids: torch.Tensor) -> tuple[Segments, torch.Tensor]:
        """Segments of rows sharing an id (``Rollout.group``), and the distinct ids ``[S]``, sorted.

        Sorted ids in equal consecutive blocks (the simulators' groups) are recognised without sorting.
        """
        B = ids.numel()
        if B:
            starts = torch.nonzero(ids[1:] != ids[:-1]).squeeze(-1) + 1  # first row of every block but the first
            S = starts.numel() + 1
            if B % S == 0:
                n = B // S
                firsts = ids[::n]
                if torch.equal(starts, torch.arange(1, S, device=ids.device) * n) and bool(
                        (firsts[1:] > firsts[:-1]).all()):
                    return cls.contiguous(S, n, ids.device), firsts
        distinct, index = torch.unique(ids, return_inverse=True)
        return cls.of(index, distinct.numel()), distinct

    @property
    def rank(self) -> torch.Tensor:
        """LongTensor [B]: position of each row among its segment's rows, in row order."""
        if self.slots is not None:
            return self.slots - self.row_segment * self.width
        return torch.arange(self.rows_per_segment, device=self.counts.device).repeat(self.num_segments)

    @property
    def index(self) -> torch.Tensor:
        """LongTensor [B]: segment of each row."""
        if self.row_segment is not None:
            return self.row_segment
        return torch.arange(self.num_segments, device=self.counts.device).repeat_interleave(self.rows_per_segment)

    def table(self, values: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
        """Row values ``[B, ...]`` laid out by segment: ``[S, W, ...]``, empty slots ``fill``."""
        S, W, rest = self.num_segments, self.width, values.shape[1:]
        if self.slots is None:
            rows = values.reshape(S, self.rows_per_segment, *rest)
            if W == rows.shape[1]:
                return rows
            return torch.cat([rows, values.new_full((S, W - rows.shape[1], *rest), fill)], dim=1)
        out = values.new_full((S * W, *rest), fill)
        return out.index_copy(0, self.slots, values).view(S, W, *rest)

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Fold-sum of row values ``[B]`` over each segment: ``[S]`` (0 for an empty segment)."""
        return fold_sum(self.table(values))

    def amax(self, values: torch.Tensor) -> torch.Tensor:
        """Largest row value ``[B]`` of each segment: ``[S]`` (``-inf`` or the lowest integer if empty)."""
        return self.table(values, _extreme(values.dtype, highest=False)).amax(-1)

    def amin(self, values: torch.Tensor) -> torch.Tensor:
        """Smallest row value ``[B]`` of each segment: ``[S]`` (``inf`` or the highest integer if empty)."""
        return self.table(values, _extreme(values.dtype, highest=True)).amin(-1)

    def first(self, values: torch.Tensor) -> torch.Tensor:
        """Value of the first row of each segment: ``[S]`` (undefined for an empty segment)."""
        if self.slots is None:
            return values.reshape(self.num_segments, self.rows_per_segment)[:, 0]
        return self.table(values)[:, 0]

    def combine(self, op: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], values: torch.Tensor,
                per_segment: torch.Tensor) -> torch.Tensor:
        """``op(values[b], per_segment[segment of b])`` for every row: ``[B]``.

        The contiguous layout broadcasts ``[S, 1]`` against a ``[S, n]`` view of the rows, with no
        ``[B]`` copy of ``per_segment``.
        """
        if self.slots is None:
            S, n = self.num_segments, self.rows_per_segment
            return op(values.reshape(S, n), per_segment.unsqueeze(-1)).reshape(-1)
        return op(values, per_segment.index_select(0, self.row_segment))

    def rows(self, values: torch.Tensor) -> torch.Tensor:
        """Broadcast segment values ``[S]`` to their rows: ``[B]``."""
        if self.slots is None:
            return values.unsqueeze(-1).expand(self.num_segments, self.rows_per_segment).reshape(-1)
        return values.index_select(0, self.row_segment)


def memo(tensor: torch.Tensor, name: str, depends: tuple[torch.Tensor, ...], compute: Callable[[], Any]) -> Any:
    """``compute()`` once per ``tensor`` (and tensors ``depends``), kept on the tensor itself.

    The entry is keyed by the tensors' identities and version counters, so an in-place change of
    any of them recomputes it; it lives as long as ``tensor``.
    """
    memo = getattr(tensor, _MEMO_ATTR, None)
    if memo is None:
        memo = {}
        setattr(tensor, _MEMO_ATTR, memo)
    stamp = (tensor._version, *((id(t), t._version) for t in depends))
    entry = memo.get(name)
    if entry is not None and entry[0] == stamp and all(a is b for a, b in zip(entry[1], depends, strict=True)):
        return entry[2]
    value = compute()
    memo[name] = (stamp, depends, value)
    return value


def run_segments(run: torch.Tensor, num_runs: int) -> Segments:
    """The :class:`Segments` of run ids ``run`` ``[B]``, computed once per tensor.

    The many per-run reductions of one step share one layout detection.
    """
    return memo(run, f"runs/{num_runs}", (), lambda: Segments.of(run, num_runs))


def id_segments(ids: torch.Tensor) -> tuple[Segments, torch.Tensor]:
    """:meth:`Segments.of_ids` of ``ids`` ``[B]``, computed once per tensor (a backend's fixed group ids)."""
    return memo(ids, "ids", (), lambda: Segments.of_ids(ids))
