"""Extra loss terms added to the aggregated policy loss (each returns a loss per run ``[R]``).

- ``entropy``: ``-entropy_coeff * mean(H)`` over the tokens the modifiers keep (verl
  ``entropy_coeff``; the bonus honours the same token selection as the policy loss).
- ``kl``: ``kl_loss_coef * agg(kl_penalty(logp, ref_logp, kl_loss_type))`` over all valid
  tokens (verl ``use_kl_loss``; GRPO-style KL loss).
- ``unbiased_kl``: ``kl_loss_coef * agg(k3 * ratio)``, the importance-corrected k3 of
  DeepSeek-V3.2 (TRL ``use_bias_correction_kl``).
- ``entropic``: EntroPIC's ``entropic_alpha * agg(-ratio * |A|)`` over high-probability tokens
  (``pi > high_prob_thresh``), the term its PI controller drives.
"""

from __future__ import annotations

import math

import torch

from entropic.control import Control
from entropic.objectives.batch import PolicyBatch
from entropic.objectives.config import ObjectiveConfig
from entropic.objectives.kl import kl_k3, kl_penalty
from entropic.objectives.ppo import LOG_RATIO_CLAMP
from entropic.objectives.registry import Aggregate, Metrics, register_term
from entropic.reduce import knob_per_row, knob_per_run, masked_mean_per_run


@register_term("entropy", reads=("entropy_coeff",), inputs=("entropy",))
def entropy_bonus(batch: PolicyBatch, control: Control, aggregate: Aggregate, keep: torch.Tensor,
                  config: ObjectiveConfig) -> tuple[torch.Tensor, Metrics]:
    """``-c * agg(H, mask * keep)``: a positive ``entropy_coeff`` rewards entropy."""
    entropy = batch.require("entropy", "entropy")
    bonus = aggregate(entropy, batch.mask * keep)  # [R]
    coeff = knob_per_run(control.entropy_coeff, batch.num_runs, bonus)
    return -coeff * bonus, {"actor/entropy_bonus": bonus.detach()}


@register_term("kl", reads=("kl_loss_coef",), inputs=("log_probs", "ref_log_probs"))
def kl_loss(batch: PolicyBatch, control: Control, aggregate: Aggregate, keep: torch.Tensor,
            config: ObjectiveConfig) -> tuple[torch.Tensor, Metrics]:
    """``kl_loss_coef * agg(kl_penalty(logp, ref_logp))`` over every valid token."""
    ref = batch.require("ref_log_probs", "kl")
    kl = aggregate(kl_penalty(batch.log_probs, ref, config.kl_loss_type), batch.mask)
    coeff = knob_per_run(control.kl_loss_coef, batch.num_runs, kl)
    return coeff * kl, {"actor/kl_loss": kl.detach()}


@register_term("unbiased_kl", reads=("kl_loss_coef",), inputs=("log_probs", "old_log_probs", "ref_log_probs"))
def unbiased_kl_loss(batch: PolicyBatch, control: Control, aggregate: Aggregate, keep: torch.Tensor,
                     config: ObjectiveConfig) -> tuple[torch.Tensor, Metrics]:
    """``kl_loss_coef * agg(k3 * pi_theta / pi_old)``: k3 importance-weighted to the samples' policy."""
    ref = batch.require("ref_log_probs", "unbiased_kl")
    ratio = torch.exp(torch.clamp(batch.log_probs - batch.old_log_probs, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    kl = aggregate(kl_k3(batch.log_probs, ref) * ratio, batch.mask)
    coeff = knob_per_run(control.kl_loss_coef, batch.num_runs, kl)
    return coeff * kl, {"actor/kl_loss": kl.detach()}


@register_term("entropic", reads=("entropic_alpha", "high_prob_thresh"),
               inputs=("log_probs", "old_log_probs", "advantages"))
def entropic_term(batch: PolicyBatch, control: Control, aggregate: Aggregate, keep: torch.Tensor,
                  config: ObjectiveConfig) -> tuple[torch.Tensor, Metrics]:
    """EntroPIC: ``alpha * agg(-ratio * |A|, hi)``, ``hi`` = valid tokens with ``pi > p_hi``.

    Relative to their share of ``hi``, high-probability tokens weigh ``(1 + alpha)`` when
    ``A > 0`` and ``(1 - alpha)`` when ``A < 0``. An empty ``hi`` gives 0.
    """
    thresh = knob_per_row(control.high_prob_thresh, batch.run)
    log_thresh = torch.log(thresh) if isinstance(thresh, torch.Tensor) else math.log(thresh)
    high = batch.mask * (batch.log_probs.detach() > log_thresh).to(batch.mask.dtype)
    ratio = torch.exp(torch.clamp(batch.log_probs - batch.old_log_probs, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    term = aggregate(-ratio * batch.advantages.abs(), high)  # [R]
    alpha = knob_per_run(control.entropic_alpha, batch.num_runs, term)
    high_frac = masked_mean_per_run(high, batch.weighted_mask, batch.run, batch.num_runs)
    return alpha * term, {"actor/entropic_term": term.detach(), "actor/high_prob_frac": high_frac}
