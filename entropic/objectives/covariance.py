"""Clip-Cov and KL-Cov (The Entropy Mechanism, Cui et al., arXiv 2505.22617): verl ``clip_cov``, ``kl_cov``.

Both act on the tokens with the largest centred covariance between log-prob and
advantage, ``cov = (A - mean A) * (logp - mean logp)`` over the valid tokens of
each run (the quantity whose sum drives entropy down):

- ``clip_cov`` detaches the gradient of a random ``clip_cov_ratio`` share of the tokens
  whose covariance lies strictly inside ``(clip_cov_lb, clip_cov_ub)`` and that the PPO
  clip has not already frozen (at least one token when any candidate exists);
- ``kl_cov`` adds ``ppo_kl_coef * |logp - old_logp|`` to the top ``kl_cov_ratio`` share
  by covariance, and uses no PPO clipping at all.
"""

from __future__ import annotations

import torch

from entropic.control import Control
from entropic.objectives.batch import PolicyBatch
from entropic.objectives.ppo import clipped_surrogate
from entropic.objectives.registry import PolicyLoss, register_policy_loss
from entropic.reduce import (
    gather_runs,
    knob_per_row,
    knob_per_run,
    masked_count_per_run,
    masked_mean_per_run,
    run_segments,
    sum_per_run,
)


def token_covariance(batch: PolicyBatch) -> torch.Tensor:
    """Centred ``(A - mean A) * (logp - mean logp)`` per token, means over each run's valid tokens.

    Returns
    -------
    FloatTensor [B, T]
        Detached covariance terms (verl's masked means, ``+1e-8`` guard).
    """
    run, R = batch.run, batch.num_runs
    measure = batch.weighted_mask
    logp = batch.log_probs.detach()
    mean_adv = gather_runs(masked_mean_per_run(batch.advantages, measure, run, R), run).unsqueeze(-1)
    mean_logp = gather_runs(masked_mean_per_run(logp, measure, run, R), run).unsqueeze(-1)
    return (batch.advantages - mean_adv) * (logp - mean_logp)


def _run_rows(batch: PolicyBatch, r: int) -> slice | torch.Tensor:
    """The rows of run ``r``: a slice in the contiguous layout (every full rollout), else their indices."""
    segments = run_segments(batch.run, batch.num_runs)
    if segments.rows_per_segment is not None:
        n = segments.rows_per_segment
        return slice(r * n, (r + 1) * n)
    return torch.nonzero(batch.run == r, as_tuple=True)[0]


def _flat_positions(rows: slice | torch.Tensor, local: torch.Tensor, length: int) -> torch.Tensor:
    """Flat ``[B*T]`` positions of the entries ``local`` (flat within ``rows``' own ``[n, T]`` block)."""
    if isinstance(rows, slice):
        return local + rows.start * length
    return rows[torch.div(local, length, rounding_mode="floor")] * length + local % length


def _run_flat_indices(batch: PolicyBatch, selected: torch.Tensor, r: int) -> torch.Tensor:
    """Flat indices into ``[B*T]`` of the ``selected`` tokens of run ``r``, in row-major order."""
    rows = _run_rows(batch, r)
    local = torch.nonzero(selected[rows].reshape(-1), as_tuple=True)[0]
    return _flat_positions(rows, local, selected.shape[-1])


TOPK_BLOCK = 512
"""Entries per block of :func:`_topk_indices`'s prefilter."""


def _topk_indices(values: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` largest entries of ``values`` ``[N]`` (``torch.topk``'s set, up to ties), small ``k``.

    The ``k``-th largest block maximum ``tau`` bounds the answer from below: ``k`` blocks hold an
    entry ``>= tau``, so no entry below ``tau`` is among the ``k`` largest. Only the blocks whose
    maximum reaches ``tau`` (and the last, partial block) are searched.
    """
    n, width = values.numel(), TOPK_BLOCK
    full = n - n % width
    if full // width <= k:
        return torch.topk(values, k).indices
    blocks = values[:full].view(-1, width)  # [n_blocks, width]
    maxima = blocks.amax(-1)
    tau = torch.topk(maxima, k).values[-1]
    kept = torch.nonzero(maxima >= tau, as_tuple=True)[0]  # [m], m >= k
    positions = (kept.unsqueeze(-1) * width + torch.arange(width, device=values.device)).reshape(-1)
    positions = torch.cat([positions, torch.arange(full, n, device=values.device)])
    return positions[torch.topk(values[positions], k).indices]


def top_share_indices(batch: PolicyBatch, cov: torch.Tensor, ratios: torch.Tensor) -> torch.Tensor:
    """Flat indices of each run's ``max(1, int(N_r * ratio_r))`` valid tokens of largest ``cov`` ``[B, T]``.

    ``N_r`` counts run ``r``'s tokens of ``batch.mask``; a run with none, or ratio 0, gets none.

    Padding is pushed below every valid token arithmetically (``cov - (1 - mask) * max``, exact on the
    valid ones), so one ``topk`` over the run's rows replaces gathering its valid tokens first.
    """
    mask, length = batch.mask, batch.mask.shape[-1]
    ranked = torch.rsub(mask, 1.0).mul_(-torch.finfo(cov.dtype).max).add_(cov)
    counts = masked_count_per_run(mask, batch.run, batch.num_runs).tolist()
    chosen = []
    for r, (count, ratio) in enumerate(zip(counts, ratios.tolist(), strict=True)):
        if count == 0 or ratio == 0.0:
            continue
        rows = _run_rows(batch, r)
        top = _topk_indices(ranked[rows].reshape(-1), max(1, int(count * ratio)))
        chosen.append(_flat_positions(rows, top, length))
    return torch.cat(chosen) if chosen else torch.zeros(0, dtype=torch.long, device=mask.device)


@register_policy_loss("clip_cov", reads=("clip_ratio_low", "clip_ratio_high", "clip_cov_ratio",
                                         "clip_cov_lb", "clip_cov_ub"),
                      ratio_knobs=("clip_ratio_low", "clip_ratio_high"))
def clip_cov_policy_loss(batch: PolicyBatch, control: Control) -> PolicyLoss:
    """Clip-Cov: PPO loss (no log-ratio clamp, no dual clip) with random high-covariance tokens detached.

    The random choice uses ``batch.generators[r]`` for run ``r`` when given (reproducible and
    independent of the other runs), else torch's global RNG. Metric ``actor/pg_clipfrac`` is the
    fraction of valid tokens detached.
    """
    run, R, mask = batch.run, batch.num_runs, batch.mask
    surrogate = clipped_surrogate(batch, control, dual_clip=False, log_ratio_clamp=None)
    cov = token_covariance(batch)
    lower = knob_per_row(control.clip_cov_lb, run)
    upper = knob_per_row(control.clip_cov_ub, run)
    candidates = (cov > lower) & (cov < upper) & (mask > surrogate.clipped)  # valid and not clipped (0/1 each)
    ratios = knob_per_run(control.clip_cov_ratio, R, mask.new_empty(0, dtype=torch.float64)).tolist()
    counts = masked_count_per_run(mask, run, R).tolist()  # exact int(ratio * N)
    chosen = []
    for r in range(R):
        idx = _run_flat_indices(batch, candidates, r)
        if idx.numel() == 0:
            continue
        generator = batch.generators[r] if batch.generators is not None else None
        perm = torch.randperm(idx.numel(), generator=generator, device=idx.device)
        chosen.append(idx[perm[:max(int(ratios[r] * counts[r]), 1)]])
    index = torch.cat(chosen) if chosen else torch.zeros(0, dtype=torch.long, device=mask.device)
    loss = _ZeroAt.apply(surrogate.loss, index)  # detached: no loss, no gradient
    return PolicyLoss(loss, {"actor/pg_clipfrac": _selected_fraction(batch, index)})


class _ZeroAt(torch.autograd.Function):
    """``x`` ``[B, T]`` with the flat positions ``index`` ``[k]`` set to 0, in place, and no gradient there.

    Autograd's own ``index_fill_`` copies the gradient three times on the way back; this clones it once.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        ctx.mark_dirty(x)
        ctx.save_for_backward(index)
        x.view(-1).index_fill_(0, index, 0.0)
        return x

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (index,) = ctx.saved_tensors
        grad = grad.clone(memory_format=torch.contiguous_format)
        grad.view(-1).index_fill_(0, index, 0.0)
        return grad, None


def _selected_fraction(batch: PolicyBatch, index: torch.Tensor) -> torch.Tensor:
    """Per run, the share ``[R]`` of the valid tokens (weighted by rows) at the flat positions ``index`` ``[k]``."""
    rows = torch.div(index, batch.mask.shape[-1], rounding_mode="floor")  # [k]
    per_row = torch.zeros(batch.mask.shape[0], dtype=batch.mask.dtype, device=index.device).index_add_(
        0, rows, torch.ones_like(rows, dtype=batch.mask.dtype))  # [B] selected tokens of each row
    if batch.weights is not None:
        per_row = batch.weights * per_row
    measure = batch.weighted_mask
    return sum_per_run(per_row, batch.run, batch.num_runs) / (
        masked_count_per_run(measure, batch.run, batch.num_runs) + 1e-8)


class _PenalisedRatioLoss(torch.autograd.Function):
    """``-A * exp(logp - old)`` plus ``coef * |logp - old|`` on a few flat positions, one multiply backwards.

    The derivative of ``-A e^x`` is itself and that of ``|x|`` is ``sign(x)`` (autograd's ``abs``
    also gives 0 at ``x = 0``): the gradient is ``grad * loss``, corrected at the ``k`` penalised
    positions from ``coef * |x|`` to ``coef * sign(x)``. Only ``log_probs`` receives a gradient.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, log_probs: torch.Tensor, log_ratio: torch.Tensor,
                advantages: torch.Tensor, index: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
        loss = torch.exp(log_ratio).mul_(advantages).neg_()  # -A * ratio
        penalised = log_ratio.reshape(-1)[index]  # [k]
        loss.view(-1).index_add_(0, index, coef * penalised.abs())
        ctx.save_for_backward(loss, index, coef * (torch.sign(penalised) - penalised.abs()))
        return loss

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor,
                 *unused: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        loss, index, correction = ctx.saved_tensors
        grad_log_probs = grad * loss
        grad_log_probs.view(-1).index_add_(0, index, grad.reshape(-1)[index] * correction)
        return grad_log_probs, None, None, None, None


@register_policy_loss("kl_cov", reads=("kl_cov_ratio", "ppo_kl_coef"), ratio_knobs=("ppo_kl_coef",))
def kl_cov_policy_loss(batch: PolicyBatch, control: Control) -> PolicyLoss:
    """KL-Cov: ``-A * ratio``, plus ``ppo_kl_coef * |log ratio|`` on the top-covariance tokens.

    ``k = max(1, int(N_valid * kl_cov_ratio))`` tokens per run (none when the ratio is 0), chosen
    over the whole (mini-)batch the objective sees. Metrics ``actor/ppo_kl`` (``mean |log ratio|``)
    and ``actor/kl_cov_frac`` per run.
    """
    run, R, mask = batch.run, batch.num_runs, batch.mask
    measure = batch.weighted_mask
    log_ratio = (batch.log_probs.detach() - batch.old_log_probs).detach()
    ratios = knob_per_run(control.kl_cov_ratio, R, mask.new_empty(0, dtype=torch.float64))  # exact int(ratio * N)
    index = top_share_indices(batch, token_covariance(batch), ratios)  # [k]
    rows = torch.div(index, mask.shape[-1], rounding_mode="floor")  # [k]
    coef = knob_per_row(control.ppo_kl_coef, run)
    coef = coef[rows, 0] if isinstance(coef, torch.Tensor) else torch.full_like(index, coef, dtype=mask.dtype)
    loss = _PenalisedRatioLoss.apply(batch.log_probs, log_ratio, batch.advantages.detach(), index,
                                        coef.to(mask.dtype))
    metrics = {
        "actor/ppo_kl": masked_mean_per_run(log_ratio.abs(), measure, run, R),
        "actor/kl_cov_frac": _selected_fraction(batch, index),
    }
    return PolicyLoss(loss, metrics)
