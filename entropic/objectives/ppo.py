"""PPO clipped surrogate with asymmetric (Clip-Higher) and dual clip: verl ``loss_mode="vanilla"``.

Per token::

    ratio = exp(clamp(logp - old_logp, -20, 20))
    L1 = -A * ratio
    L2 = -A * clamp(ratio, 1 - eps_low, 1 + eps_high)
    Lclip = max(L1, L2)
    L = where(A < 0, min(-A * c, Lclip), Lclip)          # dual clip, c = clip_ratio_c > 1

DAPO's Clip-Higher is ``clip_ratio_high > clip_ratio_low`` (0.28 vs 0.2). With one
update per rollout batch the ratio is 1 and the clip is inactive.
"""

from __future__ import annotations

from typing import Any

import torch

from entropic.control import Control
from entropic.objectives.batch import PolicyBatch
from entropic.objectives.registry import PolicyLoss, register_policy_loss
from entropic.reduce import indicator, knob_per_row, masked_mean_per_run

LOG_RATIO_CLAMP = 20.0


def clipped_surrogate(advantages: torch.Tensor, ratio: torch.Tensor, clip_low: float | torch.Tensor,
                      clip_high: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(max(L1, L2), L2 > L1)``: the pessimistic PPO loss ``[B, T]`` and where it clipped."""
    unclipped = -advantages * ratio
    if isinstance(clip_low, torch.Tensor) or isinstance(clip_high, torch.Tensor):  # per-run [B, 1] bounds
        low = torch.as_tensor(1.0 - clip_low, dtype=ratio.dtype)
        high = torch.as_tensor(1.0 + clip_high, dtype=ratio.dtype)
        clipped = -advantages * torch.clamp(ratio, low, high)
    else:
        clipped = -advantages * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    return torch.maximum(unclipped, clipped), clipped > unclipped


class _DualClipLoss(torch.autograd.Function):
    """The vanilla token loss with its gradient ``dL/dlogp`` computed in the forward pass.

    Composing ``clamp``, ``exp``, ``maximum``, ``minimum`` and ``where`` under autograd costs about
    fifteen elementwise passes backwards; the chain rule collapses into one coefficient, so the
    backward pass is a single multiply. The coefficient is autograd's: ``clamp`` passes the
    gradient on its closed interval and, where the two clip branches are equal (ratio inside the
    bounds, ratio 1 included), their halves add up to the whole. One measure-zero tie differs: where
    the dual bound equals the clipped loss exactly, autograd would pass half the gradient; this passes
    all of it. Only ``log_probs`` receives a gradient.
    """

    @staticmethod
    def forward(log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor,
                low: float | torch.Tensor, high: float | torch.Tensor,
                clip_c: float | torch.Tensor) -> tuple[torch.Tensor, ...]:
        delta = log_probs - old_log_probs
        log_ratio = torch.clamp(delta, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
        ratio = torch.exp(log_ratio)
        neg_adv = -advantages
        unclipped = neg_adv * ratio
        bounded = torch.clamp(ratio, min=low).clamp_(max=high)  # float or per-run [B, 1] bounds, mixed
        clipped_loss = neg_adv * bounded
        loss_clip = torch.maximum(unclipped, clipped_loss)
        # the dual bound -A c where A < 0, else 0: loss_clip = -A * (a positive ratio) <= 0 there already
        upper = torch.relu(neg_adv) * clip_c
        loss = torch.minimum(loss_clip, upper)
        # d loss / d logp = -A * ratio where the unclipped branch is the maximum, or the clipped one
        # with the ratio inside its bounds, the log-ratio is inside its clamp and no dual bound holds
        live = torch.maximum(indicator(torch.gt, unclipped, clipped_loss), indicator(torch.eq, bounded, ratio))
        live = live * indicator(torch.eq, log_ratio, delta) * indicator(torch.le, loss_clip, upper)
        return loss, unclipped * live, indicator(torch.gt, clipped_loss, unclipped), \
            indicator(torch.gt, loss_clip, upper), log_ratio

    @staticmethod
    def setup_context(ctx: torch.autograd.function.FunctionCtx, inputs: tuple[Any, ...],
                      output: tuple[torch.Tensor, ...]) -> None:
        _, coefficient, clipped, dual_clipped, log_ratio = output
        ctx.mark_non_differentiable(coefficient, clipped, dual_clipped, log_ratio)
        ctx.save_for_backward(coefficient)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor,
                 *unused: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (coefficient,) = ctx.saved_tensors
        return grad * coefficient, None, None, None, None, None


@register_policy_loss("vanilla", reads=("clip_ratio_low", "clip_ratio_high", "clip_ratio_c"),
                      ratio_knobs=("clip_ratio_low", "clip_ratio_high", "clip_ratio_c"))
def vanilla_policy_loss(batch: PolicyBatch, control: Control) -> PolicyLoss:
    """PPO clipped surrogate with Clip-Higher and dual clip (verl ``compute_policy_loss_vanilla``).

    Metrics (per run): ``actor/pg_clipfrac`` (fraction with ``L2 > L1``),
    ``actor/pg_clipfrac_lower`` (dual clip active on ``A < 0``), ``actor/ppo_kl``
    (``mean(old_logp - logp)``).
    """
    run, R = batch.run, batch.num_runs
    measure = batch.weighted_mask
    low = 1.0 - knob_per_row(control.clip_ratio_low, run)  # float, or [B, 1] per run
    high = 1.0 + knob_per_row(control.clip_ratio_high, run)
    clip_c = knob_per_row(control.clip_ratio_c, run)
    loss, _, clipped, dual_clipped, log_ratio = _DualClipLoss.apply(
        batch.log_probs, batch.old_log_probs.detach(), batch.advantages.detach(), low, high, clip_c)
    metrics = {
        "actor/pg_clipfrac": masked_mean_per_run(clipped, measure, run, R),
        "actor/pg_clipfrac_lower": masked_mean_per_run(dual_clipped, measure, run, R),
        "actor/ppo_kl": -masked_mean_per_run(log_ratio, measure, run, R),
    }
    return PolicyLoss(loss, metrics)
