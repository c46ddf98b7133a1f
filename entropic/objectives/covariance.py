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

from typing import Any

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


def _run_flat_indices(batch: PolicyBatch, selected: torch.Tensor, r: int) -> torch.Tensor:
    """Flat indices into ``[B*T]`` of the ``selected`` tokens of run ``r``."""
    return torch.nonzero((selected & (batch.run == r).unsqueeze(-1)).reshape(-1), as_tuple=True)[0]


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
    measure = batch.weighted_mask
    surrogate = clipped_surrogate(batch, control, dual_clip=False, log_ratio_clamp=None)
    loss, clipped = surrogate.loss, surrogate.clipped > 0
    valid = mask > 0
    cov = token_covariance(batch)
    lower = knob_per_row(control.clip_cov_lb, run)
    upper = knob_per_row(control.clip_cov_ub, run)
    candidates = (cov > lower) & (cov < upper) & valid & ~clipped
    ratios = knob_per_run(control.clip_cov_ratio, R, mask.to(torch.float64))  # exact int(ratio * N)
    valid_counts = sum_per_run(mask.sum(-1), run, R)
    corr = torch.ones(mask.numel(), dtype=loss.dtype, device=loss.device)
    for r in range(R):
        idx = _run_flat_indices(batch, candidates, r)
        if idx.numel() == 0:
            continue
        n_clip = max(int(float(ratios[r]) * float(valid_counts[r])), 1)
        generator = batch.generators[r] if batch.generators is not None else None
        perm = torch.randperm(idx.numel(), generator=generator, device=idx.device)
        corr[idx[perm[:n_clip]]] = 0.0
    corr = corr.view_as(loss)
    metrics = {"actor/pg_clipfrac": masked_mean_per_run((corr == 0).to(mask.dtype), measure, run, R)}
    return PolicyLoss(loss * corr, metrics)


class _PenalisedRatioLoss(torch.autograd.Function):
    """``-A * exp(logp - old)`` plus ``coef * |logp - old|`` on a few flat positions, one multiply backwards.

    The derivative of ``-A e^x`` is itself and that of ``|x|`` is ``sign(x)``, so the gradient
    coefficient is the base loss plus ``coef * sign`` at the penalised positions (autograd's
    ``abs`` also gives 0 at ``x = 0``). Only ``log_probs`` receives a gradient.
    """

    @staticmethod
    def forward(log_probs: torch.Tensor, log_ratio: torch.Tensor, advantages: torch.Tensor,
                index: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
        coefficient = torch.exp(log_ratio).mul_(advantages).neg_()  # -A * ratio: its own derivative
        loss = coefficient.clone()
        penalised = log_ratio.reshape(-1)[index]  # [k]
        loss.view(-1).index_add_(0, index, coef * penalised.abs())
        coefficient.view(-1).index_add_(0, index, coef * torch.sign(penalised))
        return loss, coefficient

    @staticmethod
    def setup_context(ctx: torch.autograd.function.FunctionCtx, inputs: tuple[Any, ...],
                      output: tuple[torch.Tensor, torch.Tensor]) -> None:
        coefficient = output[1]
        ctx.mark_non_differentiable(coefficient)
        ctx.save_for_backward(coefficient)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor,
                 *unused: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (coefficient,) = ctx.saved_tensors
        return grad * coefficient, None, None, None, None


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
    cov = token_covariance(batch).reshape(-1)
    ratios = knob_per_run(control.kl_cov_ratio, R, mask.to(torch.float64))  # exact int(ratio * N)
    valid = mask > 0
    chosen = []
    for r in range(R):
        idx = _run_flat_indices(batch, valid, r)
        if idx.numel() == 0 or float(ratios[r]) == 0.0:
            continue
        k = max(1, int(idx.numel() * float(ratios[r])))
        chosen.append(idx[torch.topk(cov[idx], k, largest=True).indices])
    index = torch.cat(chosen) if chosen else torch.zeros(0, dtype=torch.long, device=mask.device)  # [k]
    rows = torch.div(index, mask.shape[-1], rounding_mode="floor")  # [k]
    coef = knob_per_row(control.ppo_kl_coef, run)
    coef = coef[rows, 0] if isinstance(coef, torch.Tensor) else torch.full_like(index, coef, dtype=mask.dtype)
    loss, _ = _PenalisedRatioLoss.apply(batch.log_probs, log_ratio, batch.advantages.detach(), index,
                                        coef.to(mask.dtype))
    selected_rows = torch.zeros(mask.shape[0], dtype=mask.dtype, device=mask.device).index_add_(
        0, rows, torch.ones_like(rows, dtype=mask.dtype))  # [B] selected tokens per row
    if batch.weights is not None:
        selected_rows = batch.weights * selected_rows
    metrics = {
        "actor/ppo_kl": masked_mean_per_run(log_ratio.abs(), measure, run, R),
        "actor/kl_cov_frac": sum_per_run(selected_rows, run, R) / (masked_count_per_run(measure, run, R) + 1e-8),
    }
    return PolicyLoss(loss, metrics)
