"""GSPO, sequence-level importance ratio (arXiv 2507.18071): verl ``loss_mode="gspo"``.

::

    log s_b   = sum_t (logp - old_logp) * mask / max(L_b, 1)
    log s_bt  = sg[log s_b] + logp - sg[logp]        (clamped at 10)
    L = max(-A * s_bt, -A * clamp(s_bt, 1 - eps_low, 1 + eps_high))

The value of ``s_bt`` is the sequence ratio; its gradient flows token by token.
The loss is aggregated with the configured ``loss_agg_mode``, as verl 0.9.1 does (its default
is ``token-mean``); the paper aggregates with ``seq-mean-token-mean`` and clips at
``clip_ratio_low = 3e-4``, ``clip_ratio_high = 4e-4``, which the ``gspo`` preset sets.
"""

from __future__ import annotations

import torch

from entropic.control import Control
from entropic.objectives.batch import PolicyBatch
from entropic.objectives.registry import PolicyLoss, register_policy_loss
from entropic.reduce import (
    apply_mask,
    indicator,
    knob_per_row,
    masked_count_per_run,
    masked_mean_per_run,
    row_sum,
    sum_per_run,
)

LOG_SEQ_RATIO_MAX = 10.0


class _SequenceRatioLoss(torch.autograd.Function):
    """GSPO's token loss with ``dL/dlogp`` computed in the forward pass (one multiply backwards).

    The ratio ``s_b`` is constant along a row, so the clip decision is one per row and sign of
    ``A``: the gradient is ``-A s_b`` where the unclipped branch is the larger or ``s_b`` lies in
    its bounds (both branches then carry it, as autograd's ``maximum`` splits a tie in halves),
    and 0 where the clamp at ``exp(10)`` holds. Only ``log_probs`` receives a gradient; its
    value enters through ``log_seq_ratio``, computed outside.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, log_probs: torch.Tensor, log_seq_ratio: torch.Tensor,
                advantages: torch.Tensor, low: float | torch.Tensor, high: float | torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        capped = torch.clamp(log_seq_ratio, max=LOG_SEQ_RATIO_MAX)  # [B, 1]
        ratio = torch.exp(capped)
        bounded = torch.clamp(ratio, min=low).clamp_(max=high)
        neg_adv = -advantages
        unclipped = neg_adv * ratio
        clipped_loss = neg_adv * bounded
        loss = torch.maximum(unclipped, clipped_loss)
        inside = indicator(torch.eq, bounded, ratio) * indicator(torch.eq, capped, log_seq_ratio)  # [B, 1]
        live = torch.maximum(indicator(torch.gt, unclipped, clipped_loss), inside)
        clipped = indicator(torch.gt, clipped_loss, unclipped)
        ctx.mark_non_differentiable(clipped)
        ctx.save_for_backward(unclipped.mul_(live))  # the coefficient, in place of L1
        return loss, clipped

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor,
                 *unused: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (coefficient,) = ctx.saved_tensors
        return grad * coefficient, None, None, None, None


@register_policy_loss("gspo", reads=("clip_ratio_low", "clip_ratio_high"),
                      ratio_knobs=("clip_ratio_low", "clip_ratio_high"))
def gspo_policy_loss(batch: PolicyBatch, control: Control) -> PolicyLoss:
    """GSPO token loss; metrics ``actor/pg_clipfrac`` and ``actor/ppo_kl`` per run."""
    run, R, mask = batch.run, batch.num_runs, batch.mask
    measure = batch.weighted_mask
    with torch.no_grad():
        row_log_ratio = row_sum(apply_mask(batch.log_probs - batch.old_log_probs, mask))  # [B]
        log_seq_ratio = row_log_ratio / row_sum(mask).clamp(min=1.0)
    loss, clipped = _SequenceRatioLoss.apply(
        batch.log_probs, log_seq_ratio.unsqueeze(-1), batch.advantages.detach(),
        1.0 - knob_per_row(control.clip_ratio_low, run), 1.0 + knob_per_row(control.clip_ratio_high, run))
    if batch.weights is not None:
        row_log_ratio = batch.weights * row_log_ratio
    ppo_kl = -sum_per_run(row_log_ratio, run, R) / (masked_count_per_run(measure, run, R) + 1e-8)
    metrics = {"actor/pg_clipfrac": masked_mean_per_run(clipped, measure, run, R), "actor/ppo_kl": ppo_kl}
    return PolicyLoss(loss, metrics)
