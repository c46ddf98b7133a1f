"""BCPG-NSA (Yang et al., "Unearthing Gems from Stones", arXiv 2505.14403): negative sample augmentation.

A wrong response is not wrong everywhere: some of its steps are right, and plain GRPO penalises them with
the rest. NSA mines those steps and gives their tokens positive credit. Here a backend marks the tokens
of the steps its exact verifier accepts (``Rollout.verified_steps``; sums, sorts and countdowns on the toy
LM and the LLM backend, :mod:`entropic.tasks.steps`) and the credit replaces their advantage, per token::

    A'_t = lambda * |A_t|   where A_t < 0 and token t lies in a verified step
    A'_t = A_t              elsewhere

then PPO's clipped surrogate (the ``vanilla`` loss, dual clip included) is taken on ``A'``. ``lambda`` is
the ``nsa_weight`` knob: -1 gives back GRPO, 0 only lifts the penalty, 1 (the default) credits a
verified step as much as its response is penalised. The paper's exact form and value of the credit are
not in the material we could read and its code is not public: the form above and ``lambda = 1`` are
entropic's (unverified). The paper's method is offline and judges steps with an LLM and a process reward
model; here it runs online on the policy's own groups, with an exact step verifier. Without steps (the
bandit, ``verified_steps=None``) the loss is the ``vanilla`` one: GRPO.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from entropic.control import Control, Knob
from entropic.objectives.batch import PolicyBatch
from entropic.objectives.ppo import clipped_surrogate
from entropic.objectives.registry import PolicyLoss, register_policy_loss
from entropic.reduce import knob_per_row, masked_mean_per_run


def nsa_advantages(advantages: torch.Tensor, verified: torch.Tensor, weight: float | torch.Tensor) -> torch.Tensor:
    """The advantages with NSA's credit on the verified steps of negative responses, ``[B, T]``.

    Parameters
    ----------
    advantages : FloatTensor [B, T]
        Token advantages ``A``.
    verified : BoolTensor [B, T]
        Tokens of verified steps.
    weight : float or FloatTensor [B, 1]
        ``lambda >= -1``, shared or per row.

    Returns
    -------
    FloatTensor [B, T]
        ``lambda * |A|`` where ``A < 0`` and ``verified``, ``A`` elsewhere.
    """
    credited = verified & (advantages < 0)
    return torch.where(credited, weight * advantages.abs(), advantages)


def credited_batch(batch: PolicyBatch, weight: Knob) -> tuple[PolicyBatch, torch.Tensor]:
    """``batch`` with :func:`nsa_advantages` (per-run ``weight``) and the credited tokens, BoolTensor ``[B, T]``."""
    if batch.verified_steps is None:
        return batch, torch.zeros_like(batch.advantages, dtype=torch.bool)
    advantages = batch.advantages.detach()
    credited = batch.verified_steps & (advantages < 0)
    return replace(batch, advantages=nsa_advantages(advantages, credited, knob_per_row(weight, batch.run))), credited


@register_policy_loss("nsa", reads=("clip_ratio_low", "clip_ratio_high", "clip_ratio_c", "nsa_weight"),
                      ratio_knobs=("clip_ratio_low", "clip_ratio_high", "clip_ratio_c"))
def nsa_policy_loss(batch: PolicyBatch, control: Control) -> PolicyLoss:
    """PPO's clipped surrogate on NSA's advantages (``lambda = nsa_weight``).

    Metrics (per run): as ``vanilla`` (``actor/pg_clipfrac``, ``actor/pg_clipfrac_lower``,
    ``actor/ppo_kl``), and ``actor/nsa_credited_frac``, the share of the valid tokens credited.
    """
    run, R = batch.run, batch.num_runs
    measure = batch.weighted_mask
    augmented, credited = credited_batch(batch, control.nsa_weight)
    surrogate = clipped_surrogate(augmented, control)
    metrics = {
        "actor/pg_clipfrac": masked_mean_per_run(surrogate.clipped, measure, run, R),
        "actor/pg_clipfrac_lower": masked_mean_per_run(surrogate.dual_clipped, measure, run, R),
        "actor/ppo_kl": -masked_mean_per_run(surrogate.log_ratio, measure, run, R),
        "actor/nsa_credited_frac": masked_mean_per_run(credited.to(measure.dtype), measure, run, R),
    }
    return PolicyLoss(surrogate.loss, metrics)
