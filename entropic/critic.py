"""The critic's loss: the clipped value regression of PPO (verl ``compute_value_loss``), one per run.

A backend with a critic (:class:`~entropic.protocol.SupportsCritic`) predicts ``V`` with grad, calls
:func:`value_loss` against the returns of :func:`entropic.advantages.gae.critic_returns`, and steps each
run's critic optimizer on its own loss.
"""

from __future__ import annotations

import torch

from entropic.reduce import masked_mean_per_run


def value_loss(predicted: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               cliprange_value: float, run: torch.Tensor, num_runs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``0.5 * token-mean(max((V - G)^2, (clip(V, V_old +- c) - G)^2))`` over each run's valid tokens.

    The clip keeps the new prediction within ``cliprange_value`` of the one the rollout recorded, as
    PPO's ratio clip keeps the policy near the sampler; the max makes it pessimistic.

    Parameters
    ----------
    predicted : FloatTensor [B, T]
        ``V`` of the critic being trained, with grad.
    old_values : FloatTensor [B, T]
        ``Rollout.values``: the critic's values when the batch was sampled.
    returns : FloatTensor [B, T]
        Regression targets ``G``.
    mask : FloatTensor [B, T]
        Valid tokens.
    cliprange_value : float
        ``c`` > 0.
    run : LongTensor [B]
        Run of each row.
    num_runs : int
        R.

    Returns
    -------
    loss : FloatTensor [R]
        With grad.
    clipfrac : FloatTensor [R]
        Fraction of valid tokens where the clipped error is the larger one, no grad.
    """
    clipped = old_values + (predicted - old_values).clamp(-cliprange_value, cliprange_value)
    unclipped_error = (predicted - returns) ** 2
    clipped_error = (clipped - returns) ** 2
    loss = 0.5 * masked_mean_per_run(torch.maximum(unclipped_error, clipped_error), mask, run, num_runs)
    clipfrac = masked_mean_per_run((clipped_error > unclipped_error).to(mask.dtype), mask, run, num_runs)
    return loss, clipfrac.detach()
