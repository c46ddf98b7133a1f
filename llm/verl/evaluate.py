"""entropic's objective on verl's padded tensors, normalised as verl normalises a micro-batch.

Both the registered policy losses and the whole-loss hook call :func:`evaluate`: one implementation of
the formulas (:class:`~entropic.objectives.Objective`), rescaled by :func:`verl_normaliser` so that the
value and the gradient are verl's for the same tensors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from entropic.control import Control
from entropic.llm.verl.normaliser import verl_normaliser
from entropic.objectives import Objective, PolicyBatch

AGGREGATED = ("actor/pg_loss", "actor/loss")
"""Objective metrics that are aggregated losses, with every ``actor/<term>_term`` (:func:`aggregated`)."""


def aggregated(objective: Objective) -> frozenset[str]:
    """The names of ``objective``'s metrics that are aggregated losses: they get verl's factor."""
    return frozenset({*AGGREGATED, *(f"actor/{name}_term" for name in objective.config.terms)})


def policy_batch(old_log_prob: torch.Tensor, log_prob: torch.Tensor, advantages: torch.Tensor,
                 response_mask: torch.Tensor, entropy: torch.Tensor | None = None,
                 ref_log_prob: torch.Tensor | None = None,
                 rollout_log_probs: torch.Tensor | None = None) -> PolicyBatch:
    """A one-run :class:`PolicyBatch` of verl's tensors, all ``[B, T]`` (``response_mask`` bool or float); the
    rollout engine's log-probs, when verl kept them, are the sampler's (``sample_log_probs``)."""
    mask = response_mask.to(log_prob.dtype)
    return PolicyBatch(log_probs=log_prob, old_log_probs=old_log_prob, advantages=advantages, mask=mask,
                       run=torch.zeros(mask.shape[0], dtype=torch.long, device=mask.device), entropy=entropy,
                       ref_log_probs=ref_log_prob, sample_log_probs=rollout_log_probs)


def evaluate(objective: Objective, batch: PolicyBatch, control: Control,
             global_info: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
    """The objective's loss of one micro-batch as verl normalises it.

    Parameters
    ----------
    objective : Objective
        Its ``loss_scale_factor`` must be verl's (``global_info["loss_scale_factor"]``).
    batch : PolicyBatch
        One run.
    control : Control
        The knobs.
    global_info : mapping
        verl's ``global_batch_info`` (see :func:`verl_normaliser`).

    Returns
    -------
    loss : FloatTensor []
        Differentiable w.r.t. ``batch.log_probs``.
    metrics : dict[str, float]
        The objective's metrics; the aggregated losses (:func:`aggregated`) times verl's factor, the others
        (fractions, means) as the micro-batch's own.
    """
    loss, metrics = objective(batch, control)
    factor = verl_normaliser(batch.mask, objective.config.loss_agg_mode, global_info)
    scaled = aggregated(objective)
    values = {name: float(value[0] * factor) if name in scaled else float(value[0])
              for name, value in metrics.items()}
    return loss[0] * factor, values
