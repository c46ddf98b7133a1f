"""STEER (Hao et al., "Rethinking Entropy Interventions in RLVR", arXiv 2510.10150): token weights ``exp(-k |Omega|)``.

Each token's update moves its state's entropy; STEER estimates that change to first order, ``Omega``,
and weights the token's policy loss down the more it would move the entropy, so that the per-step
entropy change stays in a moderate band:

    ``Omega = -(A / pi_old(y)) * p (1 - p) * (log p + H)``,  ``p = pi_theta(y)``, ``H`` the state's entropy,
    ``w = clip(exp(-k |Omega|), lambda_min, 1)``,  ``k = -log(lambda_min) / max(max |Omega|, 0.02)``.

``Omega`` is the first-order entropy change ``-Cov_pi(log pi, dz)`` of :mod:`entropic.metrics.entropy_change`
for a step ``dz = g e_y`` of the sampled token's logit alone, ``g = (A / pi_old)(1 - p)``: with a
one-hot step the covariance is ``g p (log p + H)``, so ``Omega`` needs only ``p`` and ``H``, no full
logits, and runs unchanged on an LLM. The rule, the 0.02 floor, the clip to ``[lambda_min, 1]``, the
guards ``p in [1e-8, 1 - 1e-8]``, ``pi_old >= 1e-8``, and ``lambda_min = 0.8`` are those of the authors'
released code (``compute_token_weights``, exponential mapping): ``k`` is set per batch so that the
token of largest ``|Omega|`` gets exactly ``lambda_min``. Their batch is what verl's loss function sees,
one micro-batch on one GPU; here it is each run's tokens of the objective's mini-batch (entropic's
micro-batches share it), so a run's weights depend neither on the other runs nor on the memory split;
in an exact-expectation rollout every enumerated response counts in the max, however improbable. The
weights are constants (no gradient), and multiply the per-token policy loss like any modifier.
"""

from __future__ import annotations

import math

import torch

from entropic.control import Control
from entropic.objectives.batch import PolicyBatch
from entropic.objectives.config import ObjectiveConfig
from entropic.objectives.registry import Metrics, register_modifier
from entropic.reduce import gather_runs, masked_mean_per_run, run_segments

OMEGA_FLOOR = 0.02
"""Lower bound of the ``max |Omega|`` that sets ``k`` (authors' code): a batch of small changes is damped less."""
PROB_GUARD = 1e-8
"""Probabilities are kept in ``[1e-8, 1 - 1e-8]`` (and ``pi_old >= 1e-8``), as in the authors' code."""


def token_entropy_change(log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor,
                         entropy: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """STEER's first-order estimate ``Omega`` of each token's entropy change (nats per unit step), detached.

    Parameters
    ----------
    log_probs, old_log_probs : FloatTensor [B, T]
        ``log pi_theta(y)`` and ``log pi_old(y)`` of the sampled tokens.
    advantages : FloatTensor [B, T]
        Token advantages ``A``.
    entropy : FloatTensor [B, T]
        Entropy ``H`` of each token's state.
    mask : FloatTensor [B, T]
        Valid tokens.

    Returns
    -------
    FloatTensor [B, T]
        ``-(A / pi_old) p (1 - p) (log p + H)``; 0 on padding and wherever it is not finite.
    """
    p = log_probs.detach().exp().clamp(PROB_GUARD, 1.0 - PROB_GUARD)
    old = old_log_probs.detach().exp().clamp(min=PROB_GUARD)
    omega = -(advantages.detach() / old) * p * (1.0 - p) * (torch.log(p) + entropy.detach())
    return torch.where((mask > 0) & torch.isfinite(omega), omega, torch.zeros_like(omega))


def steer_weights(omega: torch.Tensor, run: torch.Tensor, num_runs: int,
                  weight_min: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token weights ``clip(exp(-k_r |Omega|), lambda_min, 1)`` with ``k_r`` set per run.

    Parameters
    ----------
    omega : FloatTensor [B, T]
        Estimated entropy changes, 0 on padding (:func:`token_entropy_change`).
    run : LongTensor [B]
        Run of each row.
    num_runs : int
        R.
    weight_min : float
        ``lambda_min`` in ``(0, 1]``.

    Returns
    -------
    weights : FloatTensor [B, T]
        In ``[lambda_min, 1]`` (1 on padding).
    k : FloatTensor [R]
        ``-log(lambda_min) / max(max_r |Omega|, 0.02)`` of each run.
    largest : FloatTensor [R]
        ``max |Omega|`` over each run's tokens (0 for a run without tokens).
    """
    magnitude = omega.abs()
    largest = run_segments(run, num_runs).amax(magnitude.amax(-1)).clamp(min=0.0)  # [R]
    k = -math.log(weight_min) / largest.clamp(min=OMEGA_FLOOR)
    weights = torch.exp(-gather_runs(k, run).unsqueeze(-1) * magnitude).clamp(weight_min, 1.0)
    return weights, k, largest


@register_modifier("steer", inputs=("log_probs", "old_log_probs", "advantages", "entropy"), configured=True)
def steer(batch: PolicyBatch, control: Control, config: ObjectiveConfig) -> tuple[torch.Tensor, Metrics]:
    """STEER's weight ``[B, T]`` (lambda_min = ``objective.steer_weight_min``).

    Metrics (per run): ``actor/steer_weight_mean`` (mean weight of the valid tokens),
    ``actor/steer_k`` and ``actor/steer_omega_max`` (the largest ``|Omega|``).
    """
    entropy = batch.require("entropy", "steer")
    omega = token_entropy_change(batch.log_probs, batch.old_log_probs, batch.advantages, entropy, batch.mask)
    weights, k, largest = steer_weights(omega, batch.run, batch.num_runs, config.steer_weight_min)
    return weights, {"actor/steer_weight_mean": masked_mean_per_run(weights, batch.weighted_mask, batch.run,
                                                                    batch.num_runs),
                     "actor/steer_k": k, "actor/steer_omega_max": largest}
