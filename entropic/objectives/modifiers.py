"""Token modifiers: weights ``[B, T]`` that multiply the per-token policy loss.

- ``sample_weight``: ``pos_weight`` on ``A > 0`` tokens, ``neg_weight`` on ``A < 0`` tokens
  (W-REINFORCE: ``pos_weight=0.1, neg_weight=1``; PSR-only / NSR-only: one weight 0; Positive-Advantage
  Reweighting, arXiv 2511.05993: ``pos_weight = lambda < 1``, ``neg_weight=1``, the ``par`` preset). The
  actuator of positive/negative reweighting controllers.
- ``top_entropy``: keep only the top ``top_entropy_quantile`` share of each run's valid tokens
  by entropy ("Beyond the 80/20 Rule", TRL ``top_entropy_quantile``). Ties at the threshold
  are kept; the aggregation denominator still counts every valid token.
- ``off_policy_mask``: DeepSeek-V3.2 off-policy sequence masking: drop whole sequences with
  negative advantage whose mean ``log(pi_sample / pi_theta)`` exceeds ``off_policy_mask_threshold``.

The two selections (``selects=True``) also restrict the entropy bonus to the kept tokens.
"""

from __future__ import annotations

import torch

from entropic.control import Control
from entropic.objectives.batch import PolicyBatch
from entropic.objectives.registry import Metrics, register_modifier
from entropic.reduce import gather_runs, knob_per_row, knob_per_run, masked_mean_per_run, quantile_per_run


@register_modifier("sample_weight", reads=("pos_weight", "neg_weight"), inputs=("advantages",))
def sample_weight(batch: PolicyBatch, control: Control) -> tuple[torch.Tensor, Metrics]:
    """Weight ``[B, T]``: ``pos_weight`` where ``A > 0``, ``neg_weight`` where ``A < 0``, 1 elsewhere."""
    A = batch.advantages
    pos = torch.as_tensor(knob_per_row(control.pos_weight, batch.run), dtype=A.dtype)
    neg = torch.as_tensor(knob_per_row(control.neg_weight, batch.run), dtype=A.dtype)
    one = torch.ones_like(A)
    weight = torch.where(A > 0, pos * one, torch.where(A < 0, neg * one, one))
    return weight, {}


def top_entropy_mask(entropy: torch.Tensor, mask: torch.Tensor, run: torch.Tensor, num_runs: int,
                     quantile: torch.Tensor) -> torch.Tensor:
    """Bool ``[B, T]``: valid tokens whose entropy is at or above the run's ``1 - quantile`` quantile.

    Parameters
    ----------
    entropy : FloatTensor [B, T]
        Token entropy.
    mask : FloatTensor [B, T]
        Valid tokens.
    run : LongTensor [B]
        Run of each row.
    num_runs : int
        R.
    quantile : FloatTensor [R]
        Share rho of tokens to keep, per run.
    """
    return above_threshold(entropy, mask, run, quantile_per_run(entropy, mask, run, num_runs, 1.0 - quantile))


def above_threshold(values: torch.Tensor, mask: torch.Tensor, run: torch.Tensor,
                    threshold: torch.Tensor) -> torch.Tensor:
    """Bool ``[B, T]``: valid entries of ``values [B, T]`` at or above their run's ``threshold [R]``."""
    return (values.detach() >= gather_runs(threshold, run).unsqueeze(-1)) & (mask > 0)


@register_modifier("top_entropy", reads=("top_entropy_quantile",), inputs=("entropy",), selects=True)
def top_entropy(batch: PolicyBatch, control: Control) -> tuple[torch.Tensor, Metrics]:
    """0/1 weight keeping the highest-entropy ``top_entropy_quantile`` share of each run's tokens."""
    entropy = batch.require("entropy", "top_entropy")
    # float64 so that the level 1 - rho is rounded once, as torch.quantile(x, 1 - rho) does
    quantile = knob_per_run(control.top_entropy_quantile, batch.num_runs, entropy.new_empty(0, dtype=torch.float64))
    keep = top_entropy_mask(entropy, batch.mask, batch.run, batch.num_runs, quantile).to(entropy.dtype)
    return keep, {"actor/top_entropy_keep_frac": masked_mean_per_run(keep, batch.weighted_mask, batch.run,
                                                                     batch.num_runs)}


@register_modifier("off_policy_mask", reads=("off_policy_mask_threshold",),
                   inputs=("log_probs", "old_log_probs", "sample_log_probs", "advantages"), selects=True)
def off_policy_mask(batch: PolicyBatch, control: Control) -> tuple[torch.Tensor, Metrics]:
    """0/1 weight dropping negative-advantage sequences that are too far off-policy (OPSM).

    ``kl_seq[b] = sum_t (sample_logp - logp) * mask / max(L_b, 1)`` with ``sample_logp`` the
    sampler's log-probs when given, else ``old_log_probs``; ``A == 0`` counts as positive.
    """
    mask = batch.mask
    sample = batch.sample_log_probs if batch.sample_log_probs is not None else batch.old_log_probs
    lengths = mask.sum(-1).clamp(min=1.0)
    kl_seq = ((sample - batch.log_probs.detach()) * mask).sum(-1) / lengths  # [B]
    seq_adv = (batch.advantages * mask).sum(-1) / lengths  # [B]
    threshold = knob_per_row(control.off_policy_mask_threshold, batch.run)
    threshold = threshold.squeeze(-1) if isinstance(threshold, torch.Tensor) else threshold
    keep = ((seq_adv >= 0) | (kl_seq <= threshold)).to(mask.dtype)  # [B]
    weight = keep.unsqueeze(-1).expand_as(mask)
    return weight, {"actor/off_policy_masked_frac": masked_mean_per_run(1.0 - weight, batch.weighted_mask, batch.run,
                                                                        batch.num_runs)}
