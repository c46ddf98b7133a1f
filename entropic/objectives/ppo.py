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

import torch

from entropic.control import Control
from entropic.objectives.batch import PolicyBatch
from entropic.objectives.registry import PolicyLoss, register_policy_loss
from entropic.reduce import knob_per_row, masked_mean_per_run

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


@register_policy_loss("vanilla", reads=("clip_ratio_low", "clip_ratio_high", "clip_ratio_c"),
                      ratio_knobs=("clip_ratio_low", "clip_ratio_high", "clip_ratio_c"))
def vanilla_policy_loss(batch: PolicyBatch, control: Control) -> PolicyLoss:
    """PPO clipped surrogate with Clip-Higher and dual clip (verl ``compute_policy_loss_vanilla``).

    Metrics (per run): ``actor/pg_clipfrac`` (fraction with ``L2 > L1``),
    ``actor/pg_clipfrac_lower`` (dual clip active on ``A < 0``), ``actor/ppo_kl``
    (``mean(old_logp - logp)``).
    """
    run, R, A, mask = batch.run, batch.num_runs, batch.advantages, batch.mask
    measure = batch.weighted_mask
    log_ratio = torch.clamp(batch.log_probs - batch.old_log_probs, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    ratio = torch.exp(log_ratio)
    clip_low = knob_per_row(control.clip_ratio_low, run)
    clip_high = knob_per_row(control.clip_ratio_high, run)
    clip_c = knob_per_row(control.clip_ratio_c, run)
    loss_clip, clipped = clipped_surrogate(A, ratio, clip_low, clip_high)
    dual = -A * clip_c
    negative = A < 0
    loss = torch.where(negative, torch.minimum(dual, loss_clip), loss_clip)
    metrics = {
        "actor/pg_clipfrac": masked_mean_per_run(clipped.to(mask.dtype), measure, run, R).detach(),
        "actor/pg_clipfrac_lower": masked_mean_per_run(
            ((loss_clip > dual) & negative).to(mask.dtype), measure, run, R).detach(),
        "actor/ppo_kl": masked_mean_per_run(-log_ratio, measure, run, R).detach(),
    }
    return PolicyLoss(loss, metrics)
