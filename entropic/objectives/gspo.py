"""GSPO, sequence-level importance ratio (arXiv 2507.18071): verl ``loss_mode="gspo"``.

::

    log s_b   = sum_t (logp - old_logp) * mask / max(L_b, 1)
    log s_bt  = sg[log s_b] + logp - sg[logp]        (clamped at 10)
    L = max(-A * s_bt, -A * clamp(s_bt, 1 - eps_low, 1 + eps_high))

The value of ``s_bt`` is the sequence ratio; its gradient flows token by token.
Aggregation is forced to ``seq-mean-token-mean`` (verl ignores the configured mode).
The paper uses ``clip_ratio_low = 3e-4``, ``clip_ratio_high = 4e-4``.
"""

from __future__ import annotations

import torch

from entropic.control import Control
from entropic.objectives.batch import PolicyBatch
from entropic.objectives.ppo import clipped_surrogate
from entropic.objectives.registry import PolicyLoss, register_policy_loss
from entropic.reduce import knob_per_row, masked_mean_per_run

LOG_SEQ_RATIO_MAX = 10.0


@register_policy_loss("gspo", reads=("clip_ratio_low", "clip_ratio_high"),
                      ratio_knobs=("clip_ratio_low", "clip_ratio_high"))
def gspo_policy_loss(batch: PolicyBatch, control: Control) -> PolicyLoss:
    """GSPO token loss; metrics ``actor/pg_clipfrac`` and ``actor/ppo_kl`` per run."""
    run, R, mask = batch.run, batch.num_runs, batch.mask
    measure = batch.weighted_mask
    log_ratio = batch.log_probs - batch.old_log_probs
    lengths = mask.sum(-1).clamp(min=1.0)
    seq_log_ratio = (log_ratio * mask).sum(-1) / lengths  # [B]
    token_log_ratio = batch.log_probs - batch.log_probs.detach() + seq_log_ratio.detach().unsqueeze(-1)
    ratio = torch.exp(torch.clamp(token_log_ratio, max=LOG_SEQ_RATIO_MAX))
    loss, clipped = clipped_surrogate(batch.advantages, ratio, knob_per_row(control.clip_ratio_low, run),
                                      knob_per_row(control.clip_ratio_high, run))
    metrics = {
        "actor/pg_clipfrac": masked_mean_per_run(clipped.to(mask.dtype), measure, run, R).detach(),
        "actor/ppo_kl": masked_mean_per_run(-log_ratio, measure, run, R).detach(),
    }
    return PolicyLoss(loss, metrics, agg_mode="seq-mean-token-mean")
