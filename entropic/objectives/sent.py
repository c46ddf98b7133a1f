"""SENT's token-level term (Cao et al., arXiv 2512.04359): a KL penalty on low-entropy tokens, stronger on their
high-covariance part.

SENT keeps the policy gradient of every token and adds, on the tokens whose entropy is low, a penalty on
moving away from the policy that sampled them; the part of those tokens with the largest covariance
between log-prob and advantage (the tokens whose updates drive entropy down, :mod:`entropic.objectives.covariance`)
gets a larger coefficient:

    ``L = ppo_kl_coef * agg(w * |logp - old_logp|)``,
    ``w = 1`` on the low-entropy tokens ``L_r``, ``sent_high_cov_multiplier`` on their high-covariance part
    ``C_r``, 0 elsewhere,

``L_r`` the ``max(1, int(N_r * sent_low_entropy_share))`` valid tokens of run ``r`` of smallest entropy and
``C_r`` the ``max(1, int(|L_r| * kl_cov_ratio))`` tokens of ``L_r`` of largest centred covariance
``(A - mean A) * (logp - mean logp)``, the means taken over ``L_r`` (KL-Cov's ranking,
:func:`~entropic.objectives.covariance.token_covariance`, restricted to the low-entropy tokens). The
penalty is KL-Cov's ``|log ratio|`` to the old policy, as the authors' released code has it (its
``low_entropy_kl_cov_v2`` loss, with ``ppo_kl_coef`` and ``kl_cov_ratio``): its gradient is 0 at ratio 1,
so it acts only from a rollout's second update on (``trainer.ppo_epochs > 1`` or mini-batches).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from entropic.control import Control
from entropic.objectives.batch import PolicyBatch
from entropic.objectives.config import ObjectiveConfig
from entropic.objectives.covariance import token_covariance, top_share_indices
from entropic.objectives.registry import Aggregate, Metrics, register_term
from entropic.reduce import knob_per_run, masked_mean_per_run


def sent_token_weights(batch: PolicyBatch, low_entropy_share: float, cov_ratio: torch.Tensor,
                       high_cov_multiplier: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """SENT's per-token penalty weight ``w`` and its low-entropy selection, detached.

    Parameters
    ----------
    batch : PolicyBatch
        ``entropy``, ``log_probs``, ``advantages``, ``mask`` ``[B, T]`` and the runs.
    low_entropy_share : float
        Share of each run's valid tokens, those of smallest entropy, that are penalised.
    cov_ratio : FloatTensor [R]
        Share of each run's low-entropy tokens, those of largest covariance, penalised more.
    high_cov_multiplier : float
        Weight of the high-covariance tokens (the others of the low-entropy set weigh 1).

    Returns
    -------
    weight : FloatTensor [B, T]
        0 outside the low-entropy tokens, 1 on them, ``high_cov_multiplier`` on their high-covariance part.
    low, high : FloatTensor [B, T]
        The low-entropy tokens and their high-covariance part (0/1).
    """
    entropy = batch.require("entropy", "sent_kl").detach()
    mask = batch.mask
    shares = torch.full((batch.num_runs,), low_entropy_share, dtype=torch.float64)  # exact int(share * N)
    low = _indicator(mask, top_share_indices(batch, -entropy, shares))
    among_low = replace(batch, mask=low)
    high = _indicator(mask, top_share_indices(among_low, token_covariance(among_low), cov_ratio))
    return low + (high_cov_multiplier - 1.0) * high, low, high


def _indicator(mask: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """0/1 ``[B, T]`` like ``mask``, 1 at the flat positions ``index`` ``[k]``."""
    return torch.zeros_like(mask).view(-1).index_fill_(0, index, 1.0).view_as(mask)


@register_term("sent_kl", reads=("ppo_kl_coef", "kl_cov_ratio"), ratio_knobs=("ppo_kl_coef",),
               inputs=("log_probs", "old_log_probs", "advantages", "entropy"))
def sent_kl(batch: PolicyBatch, control: Control, aggregate: Aggregate, keep: torch.Tensor,
            config: ObjectiveConfig) -> tuple[torch.Tensor, Metrics]:
    """``ppo_kl_coef * agg(w * |logp - old_logp|)`` over every valid token, ``w`` of :func:`sent_token_weights`."""
    ratios = knob_per_run(control.kl_cov_ratio, batch.num_runs, batch.mask.new_empty(0, dtype=torch.float64))
    weight, low, high = sent_token_weights(batch, config.sent_low_entropy_share, ratios,
                                           config.sent_high_cov_multiplier)
    penalty = aggregate(weight * (batch.log_probs - batch.old_log_probs).abs(), batch.mask)  # [R]
    coeff = knob_per_run(control.ppo_kl_coef, batch.num_runs, penalty)
    measure, run, R = batch.weighted_mask, batch.run, batch.num_runs
    return coeff * penalty, {
        "actor/sent_kl": penalty.detach(),
        "actor/sent_low_entropy_frac": masked_mean_per_run(low, measure, run, R),
        "actor/sent_high_cov_frac": masked_mean_per_run(high, measure, run, R),
    }
