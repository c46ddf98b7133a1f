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
from dataclasses import dataclass

import torch

from entropic._memo import memo
from entropic.reduce import (
    apply_mask,
    gather_runs,
    masked_count_per_run,
    row_sum,
    select_valid,
    sum_per_run,
)

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

    The loss is linear in ``log_probs``: ``loss_r = sum_{b in r, t} log_probs * G`` with
    ``G = -pg_weight * mask * row_scale`` (:func:`row_scale`), its gradient, formed in the forward
    pass in one multiply; the backward returns ``G`` itself (no pass over the tokens) when every run's
    output gradient is 1, as under ``loss.sum().backward()``. The arguments after ``pg_weight`` are
    :func:`agg_loss`'s. Padding guards itself: ``G`` is 0 on padding whenever ``pg_weight`` is finite
    there, and a non-finite value there makes the result non-finite; only then are both inputs
    selected and the sum taken again.
    """
    check_agg_mode(mode)
    if run is None:
        run = torch.zeros(mask.shape[0], dtype=torch.long, device=mask.device)
    loss = _linear_loss(log_probs, pg_weight, mask, mode, run, num_runs, loss_scale_factor, weights)
    if loss.device.type == "cpu" and all(math.isfinite(value) for value in loss.tolist()):
        return loss
    return _linear_loss(select_valid(log_probs, mask), select_valid(pg_weight, mask), mask, mode, run, num_runs,
                        loss_scale_factor, weights)


def _linear_loss(log_probs: torch.Tensor, pg_weight: torch.Tensor, mask: torch.Tensor, mode: str,
                 run: torch.Tensor, num_runs: int, loss_scale_factor: float | None,
                 weights: torch.Tensor | None) -> torch.Tensor:
    depends = (run,) if weights is None else (run, weights)
    scale = memo(mask, f"linear_scale/{mode}/{num_runs}/{loss_scale_factor}", depends,
                 lambda: _row_scale(mask, mode, run, num_runs, loss_scale_factor, weights))
    return _Linear.apply(log_probs, _LinearInputs(pg_weight.detach(), mask, scale, run, num_runs))


def _row_scale(mask: torch.Tensor, mode: str, run: torch.Tensor, num_runs: int, loss_scale_factor: float | None,
               weights: torch.Tensor | None) -> float | torch.Tensor:
    """The weight of each row's token sum in its run's loss: ``f_b / d_run(b)`` ``[B]``, or one float
    when every row has the same (one run, no row factor)."""
    factor, denominator = normaliser(mask, mode, run, num_runs, loss_scale_factor, weights)
    if factor is None and num_runs == 1:
        return 1.0 if denominator is None else float(denominator.reciprocal())
    if factor is None:
        factor = torch.ones(mask.shape[0], dtype=mask.dtype, device=mask.device)
    return factor if denominator is None else factor / gather_runs(denominator, run)


def _linear_gradient(pg_weight: torch.Tensor, mask: torch.Tensor, scale: float | torch.Tensor) -> torch.Tensor:
    """``G = -pg_weight * mask * scale`` ``[B, T]`` for one scale (a single pass) or a scale per row ``[B]``.

    Both forms give the same bits on valid tokens (the mask is 0/1), so a run alone and in a batch agree.
    """
    if isinstance(scale, float):
        return torch.addcmul(pg_weight.new_zeros(()), pg_weight, mask, value=-scale)
    return torch.mul(pg_weight, mask).mul_(scale.neg().unsqueeze(-1))


@dataclass
class _LinearInputs:
    """What :class:`_Linear` needs besides ``x``, in one argument (``Function.apply`` pays per argument).

    ``grad`` holds ``G`` from the forward pass until the first backward takes it.
    """

    pg_weight: torch.Tensor
    mask: torch.Tensor
    scale: float | torch.Tensor
    run: torch.Tensor
    num_runs: int
    grad: torch.Tensor | None = None


class _Linear(torch.autograd.Function):
    """``loss_r = sum_{b in r, t} x[b, t] * G[b, t]`` ``[R]``, ``G`` from :func:`_linear_gradient`.

    The gradient w.r.t. ``x`` is ``g[run] * G``. The first backward with ``g`` 1 for every run hands
    ``G`` over without a copy (autograd takes it as ``x.grad``); a later one (``retain_graph``) or
    another ``g`` rebuilds it from the inputs.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, inputs: _LinearInputs) -> torch.Tensor:
        inputs.grad = _linear_gradient(inputs.pg_weight, inputs.mask, inputs.scale)
        ctx.inputs = inputs  # detached inputs, none of them an output: no reference cycle
        return sum_per_run(torch.linalg.vecdot(x, inputs.grad), inputs.run, inputs.num_runs)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        inputs = ctx.inputs
        grad, inputs.grad = inputs.grad, None
        if grad is None:
            grad = _linear_gradient(inputs.pg_weight, inputs.mask, inputs.scale)
        if not bool((g == 1).all()):
            grad = grad * gather_runs(g, inputs.run).unsqueeze(-1)
        return grad, None


def normaliser(mask: torch.Tensor, mode: str, run: torch.Tensor, num_runs: int = 1,
               loss_scale_factor: float | None = None,
               weights: torch.Tensor | None = None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """How every mode weighs the rows' masked token sums: ``loss_r = sum_{b in r} f_b token_sum_b / d_r``.

    Returns
    -------
    factor : FloatTensor [B] or None
        ``f``: the row weight, divided by ``L_b + 1e-8`` for ``seq-mean-token-mean``; ``None`` for 1.
    denominator : FloatTensor [R] or None
        ``d``: the run's tokens (``token-mean``), non-empty sequences (``seq-mean-*``, times
        ``loss_scale_factor or T`` for ``-norm``), each weighted; a run with none gets 1 (its loss
        is 0, not NaN). ``None`` for 1 (``token-sum``).
    """
    if mode == "token-sum":
        return weights, None
    if mode == "token-mean":
        tokens = masked_count_per_run(mask, run, num_runs) if weights is None else \
            sum_per_run(weights * row_sum(mask), run, num_runs)
        return weights, torch.where(tokens > 0, tokens, 1.0)
    lengths = row_sum(mask)  # [B]
    nonempty = (lengths > 0).to(mask.dtype)
    seqs = sum_per_run(nonempty if weights is None else weights * nonempty, run, num_runs)
    seqs = torch.where(seqs > 0, seqs, 1.0)
    if mode == "seq-mean-token-mean":
        per_token = (lengths + 1e-8).reciprocal()
        return per_token if weights is None else weights * per_token, seqs
    if mode == "seq-mean-token-sum":
        return weights, seqs
    return weights, seqs * (float(mask.shape[-1]) if loss_scale_factor is None else float(loss_scale_factor))


def aggregate_rows(token_sum: torch.Tensor, mask: torch.Tensor, mode: str, run: torch.Tensor | None = None,
                   num_runs: int = 1, loss_scale_factor: float | None = None,
                   weights: torch.Tensor | None = None) -> torch.Tensor:
    """The aggregation of rows whose masked token sums are ``token_sum`` ``[B]``: one loss per run ``[R]``."""
    if run is None:
        run = torch.zeros(mask.shape[0], dtype=torch.long, device=mask.device)
    factor, denominator = normaliser(mask, mode, run, num_runs, loss_scale_factor, weights)
    total = sum_per_run(token_sum if factor is None else token_sum * factor, run, num_runs)
    return total if denominator is None else total / denominator
