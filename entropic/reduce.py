"""Per-run and per-group reductions: every batch statistic of entropic, taken so a run sees its own rows only.

A batch may hold ``R`` independent runs (rows tagged by ``run`` ids ``[B]``). Every batch statistic
in entropic (token means, covariances, quantiles, whitening, group baselines) is taken per run, or
per group, so that a run sees the same numbers alone or batched. Rows are reduced first (over
``T``), then folded into their segments (runs, groups) by a fixed pairwise tree.

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

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from entropic._memo import memo
from entropic.control import Knob

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


# ---------------------------------------------------------------- segments and their fold
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
    segments, width = table.shape
    while width > 1:  # a sum over a pair is exactly its add (one op instead of two slices and an add)
        width //= 2
        table = table.reshape(segments, 2, width).sum(1, dtype=table.dtype)
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


def run_segments(run: torch.Tensor, num_runs: int) -> Segments:
    """The :class:`Segments` of run ids ``run`` ``[B]``, computed once per tensor.

    The many per-run reductions of one step share one layout detection.
    """
    return memo(run, f"runs/{num_runs}", (), lambda: Segments.of(run, num_runs))


def id_segments(ids: torch.Tensor) -> tuple[Segments, torch.Tensor]:
    """:meth:`Segments.of_ids` of ``ids`` ``[B]``, computed once per tensor (a backend's fixed group ids)."""
    return memo(ids, "ids", (), lambda: Segments.of_ids(ids))


def group_runs(group: torch.Tensor, run: torch.Tensor) -> tuple[Segments, torch.Tensor]:
    """The groups of ``group`` ids ``[B]`` (:func:`id_segments`, in increasing id order) and the run of each
    group ``[K]`` (that of its first row), computed once per pair of tensors."""
    groups, _ = id_segments(group)
    return groups, memo(group, "group_runs", (run,), lambda: groups.first(run))
