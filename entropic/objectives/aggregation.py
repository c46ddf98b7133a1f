"""Loss aggregation ``agg_loss(loss_mat, mask, mode)`` (verl ``core_algos.agg_loss``), per run.

verl 0.9.1's single-process formulas, applied to each independent run separately
(``L_b`` = valid tokens of row b, ``w_b`` = row weight, 1 for sampled rows,
``n = sum_b w_b 1[L_b > 0]`` the run's non-empty sequences):

============================  =====================================================================
mode                          per-run value
============================  =====================================================================
``token-mean``                ``sum_b w_b sum_t loss*mask / sum_b w_b L_b`` (verl default; DAPO)
``token-sum``                 ``sum_b w_b sum_t loss*mask`` (no normaliser)
``seq-mean-token-sum``        ``sum_b w_b [sum_t loss*mask] / n``
``seq-mean-token-mean``       ``sum_b w_b [sum_t loss*mask / (L_b + 1e-8)] / n`` (GRPO)
``seq-mean-token-sum-norm``   ``sum_b w_b [sum_t loss*mask] / n / S``, ``S = loss_scale_factor or T``
                              (Dr.GRPO: row sums over a constant length, then a mean over rows)
============================  =====================================================================

A run with nothing to average (empty mask) gets 0, not NaN (TRL's guard; verl divides by
the raw count). Entries outside the mask are selected away, not multiplied by 0: a NaN or
``inf`` there reaches neither the loss nor its gradient, which is exactly 0 on padding
(:func:`entropic.reduce.select_valid`).
"""

from __future__ import annotations

import math

import torch

from entropic.reduce import apply_mask, masked_count_per_run, row_sum, safe_divide, select_valid, sum_per_run

AGG_MODES = ("token-mean", "token-sum", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")


def check_agg_mode(mode: str) -> str:
    """Return ``mode`` or raise ``ValueError`` naming the field and allowed values."""
    if mode not in AGG_MODES:
        raise ValueError(f"loss_agg_mode={mode!r} is not supported; allowed values: {list(AGG_MODES)}")
    return mode


def agg_loss(loss_mat: torch.Tensor, mask: torch.Tensor, mode: str, run: torch.Tensor | None = None,
             num_runs: int = 1, loss_scale_factor: float | None = None,
             weights: torch.Tensor | None = None, *, select: bool = True) -> torch.Tensor:
    """Aggregate a per-token loss into one loss per run.

    Parameters
    ----------
    loss_mat : FloatTensor [B, T]
        Per-token loss; its values outside ``mask`` are ignored, whatever they are.
    mask : FloatTensor [B, T]
        Tokens that count (0/1).
    mode : str
        One of :data:`AGG_MODES`.
    run : LongTensor [B], optional
        Run id of each row (``None``: all rows belong to run 0).
    num_runs : int
        R.
    loss_scale_factor : float, optional
        Constant normaliser of ``seq-mean-token-sum-norm`` (default: ``T``).
    weights : FloatTensor [B], optional
        Row weights of an exact-expectation rollout.
    select : bool
        Select away non-finite values outside ``mask`` (default). The objective passes False: it
        selects its inputs once, and its token losses are finite wherever they are.

    Returns
    -------
    FloatTensor [R]
        The aggregated loss of each run.
    """
    check_agg_mode(mode)
    token_sum = row_sum(apply_mask(select_valid(loss_mat, mask) if select else loss_mat, mask))  # [B]
    return aggregate_rows(token_sum, mask, mode, run, num_runs, loss_scale_factor, weights)


def linear_agg_loss(log_probs: torch.Tensor, pg_weight: torch.Tensor, mask: torch.Tensor, mode: str,
                    run: torch.Tensor | None = None, num_runs: int = 1, loss_scale_factor: float | None = None,
                    weights: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`agg_loss` of the token loss ``-pg_weight * log_probs`` without building it: ``[R]``.

    Each row's masked sum is one weighted row sum of ``log_probs`` (:class:`_RowDot`), whose backward
    is a single multiply by ``pg_weight * mask``; the arguments after ``pg_weight`` are
    :func:`agg_loss`'s. Padding guards itself: the gradient is ``g * pg_weight * mask``, 0 on padding
    whenever ``pg_weight`` is finite there, and a non-finite value there makes the result non-finite;
    only then are both inputs selected and the sum taken again.
    """
    check_agg_mode(mode)
    loss = _linear_rows(log_probs, pg_weight, mask, mode, run, num_runs, loss_scale_factor, weights)
    if loss.device.type == "cpu" and math.isfinite(float(loss.detach().sum())):
        return loss
    return _linear_rows(select_valid(log_probs, mask), select_valid(pg_weight, mask), mask, mode, run, num_runs,
                        loss_scale_factor, weights)


def _linear_rows(log_probs: torch.Tensor, pg_weight: torch.Tensor, mask: torch.Tensor, mode: str,
                 run: torch.Tensor | None, num_runs: int, loss_scale_factor: float | None,
                 weights: torch.Tensor | None) -> torch.Tensor:
    token_sum = _RowDot.apply(log_probs, apply_mask(pg_weight.detach(), mask)).neg()  # [B]
    return aggregate_rows(token_sum, mask, mode, run, num_runs, loss_scale_factor, weights)


class _RowDot(torch.autograd.Function):
    """``sum_t x[b, t] * c[b, t]`` ``[B]`` for a detached ``c``; the gradient w.r.t. ``x`` is ``g[b] * c``."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(c)
        return torch.linalg.vecdot(x, c)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (c,) = ctx.saved_tensors
        return grad.unsqueeze(-1) * c, None


def aggregate_rows(token_sum: torch.Tensor, mask: torch.Tensor, mode: str, run: torch.Tensor | None = None,
                   num_runs: int = 1, loss_scale_factor: float | None = None,
                   weights: torch.Tensor | None = None) -> torch.Tensor:
    """The aggregation of rows whose masked token sums are ``token_sum`` ``[B]``: one loss per run ``[R]``."""
    if run is None:
        run = torch.zeros(mask.shape[0], dtype=torch.long, device=mask.device)

    def total(rows: torch.Tensor) -> torch.Tensor:
        """Per-run sum ``[R]`` of row values ``[B]``, weighted by ``weights`` when given."""
        return sum_per_run(rows if weights is None else weights * rows, run, num_runs)

    if mode == "token-sum":
        return total(token_sum)
    if mode == "token-mean":
        tokens = masked_count_per_run(mask, run, num_runs) if weights is None else total(row_sum(mask))
        return safe_divide(total(token_sum), tokens)
    lengths = row_sum(mask)  # [B]
    valid_seqs = total((lengths > 0).to(token_sum.dtype))
    if mode == "seq-mean-token-mean":
        return safe_divide(total(token_sum / (lengths + 1e-8)), valid_seqs)
    seq_mean = safe_divide(total(token_sum), valid_seqs)
    if mode == "seq-mean-token-sum":
        return seq_mean
    scale = float(mask.shape[-1]) if loss_scale_factor is None else float(loss_scale_factor)
    return seq_mean / scale
