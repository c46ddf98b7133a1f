"""LUFFY (Yan et al., "Learning to Reason under Off-Policy Guidance", arXiv 2504.14945): the mixed-policy loss.

Each group holds the policy's own samples and demonstrations of a stronger policy put in their place
by the backend (``Rollout.off_policy``, ``backend.off_policy_share``). Their advantages are GRPO's over
the whole group, samples and demonstrations together (``adv_estimator=grpo``: LUFFY's mixed-policy
advantage needs no estimator of its own). Per token::

    sample:         the PPO clipped surrogate (the ``vanilla`` loss, dual clip included)
    demonstration:  L = -A * f(r),  f(r) = r / (r + gamma),  r = pi_theta / pi_phi = exp(logp - old_logp)

with no clip on the demonstration's tokens. ``pi_phi`` is the demonstrator's probability, taken as 1
(``old_logp = 0``, what the backends record) as the authors' released code does, so ``f = p / (p + gamma)``.
``f(r) = sigmoid(log r - log gamma)``, which is how it is computed (no overflow for any ``r``). Its
gradient ``dL/dlogp = -A gamma r / (r + gamma)^2`` peaks at ``r = gamma`` and vanishes as ``r -> 1``,
where plain importance sampling's ``-A r`` would grow: the demonstrations' rare tokens are learnt, the
ones the policy already predicts are left alone. ``gamma`` is the ``off_policy_gamma`` knob (0.1 in the
paper and the released code); without demonstrations in the batch the loss is the ``vanilla`` one.
"""

from __future__ import annotations

import math

import torch

from entropic.control import Control
from entropic.objectives.batch import PolicyBatch
from entropic.objectives.ppo import clipped_surrogate
from entropic.objectives.registry import PolicyLoss, register_policy_loss
from entropic.reduce import knob_per_row, masked_mean_per_run


def shaped_ratio(log_probs: torch.Tensor, old_log_probs: torch.Tensor,
                 gamma: float | torch.Tensor) -> torch.Tensor:
    """LUFFY's policy shaping ``f(r) = r / (r + gamma)`` of the ratio ``r = exp(logp - old_logp)``, ``[B, T]``.

    Parameters
    ----------
    log_probs : FloatTensor [B, T]
        ``log pi_theta`` (with grad).
    old_log_probs : FloatTensor [B, T]
        ``log pi_phi``, the demonstrator's (0 for ``pi_phi = 1``).
    gamma : float or FloatTensor [B, 1]
        Shaping constant ``> 0``, shared or per row.
    """
    log_gamma = math.log(gamma) if isinstance(gamma, float) else torch.log(gamma)
    return torch.sigmoid(log_probs - old_log_probs.detach() - log_gamma)


@register_policy_loss("luffy", reads=("clip_ratio_low", "clip_ratio_high", "clip_ratio_c", "off_policy_gamma"),
                      ratio_knobs=("clip_ratio_low", "clip_ratio_high", "clip_ratio_c"))
def luffy_policy_loss(batch: PolicyBatch, control: Control) -> PolicyLoss:
    """PPO's clipped surrogate on the samples, ``-A * r / (r + gamma)`` unclipped on the demonstrations.

    Metrics (per run): ``actor/pg_clipfrac``, ``actor/pg_clipfrac_lower`` and ``actor/ppo_kl`` over the
    samples' tokens (as ``vanilla``); ``actor/off_policy_frac``, the demonstrations' share of the valid
    tokens; ``actor/off_policy_prob``, the mean ``pi_theta`` of their tokens (0 without any).
    """
    run, R = batch.run, batch.num_runs
    surrogate = clipped_surrogate(batch, control)
    measure = batch.weighted_mask
    if batch.off_policy is None:
        off = torch.zeros_like(measure, dtype=torch.bool)
    else:
        off = batch.off_policy.unsqueeze(-1).expand_as(measure)
    gamma = knob_per_row(control.off_policy_gamma, run)
    shaped = -batch.advantages.detach() * shaped_ratio(batch.log_probs, batch.old_log_probs, gamma)
    loss = torch.where(off, shaped, surrogate.loss)
    on_measure, off_measure = measure * ~off, measure * off
    metrics = {
        "actor/pg_clipfrac": masked_mean_per_run(surrogate.clipped, on_measure, run, R),
        "actor/pg_clipfrac_lower": masked_mean_per_run(surrogate.dual_clipped, on_measure, run, R),
        "actor/ppo_kl": -masked_mean_per_run(surrogate.log_ratio, on_measure, run, R),
        "actor/off_policy_frac": masked_mean_per_run(off.to(measure.dtype), measure, run, R),
        "actor/off_policy_prob": masked_mean_per_run(batch.log_probs.detach().exp(), off_measure, run, R),
    }
    return PolicyLoss(loss, metrics)
