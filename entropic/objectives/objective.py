"""The objective: one policy loss, its token modifiers and extra terms, composed from config.

::

    token_loss = policy_loss(batch, control)                  # [B, T]
    weight     = prod(modifier(batch, control))               # [B, T]
    loss_r     = agg(token_loss * weight, mask) + sum(term)   # [R]

An ablation is a config change: ``ObjectiveConfig(policy_loss="clip_cov")``,
``modifiers=["top_entropy"]``, ``terms=["entropy", "kl"]``.
"""

from __future__ import annotations

from functools import partial

import torch

from entropic.control import Control
from entropic.objectives.aggregation import agg_loss, linear_agg_loss
from entropic.objectives.batch import PolicyBatch
from entropic.objectives.config import ObjectiveConfig
from entropic.objectives.registry import MODIFIERS, POLICY_LOSSES, TERMS, Metrics, Part
from entropic.reduce import masked_mean_per_run


class Objective:
    """Callable ``(batch, control) -> (loss [R], metrics)`` built from an :class:`ObjectiveConfig`.

    Parameters
    ----------
    config : ObjectiveConfig
        Names are checked against the registries; unknown ones raise ``ValueError``.
    """

    def __init__(self, config: ObjectiveConfig | None = None) -> None:
        self.config = config if config is not None else ObjectiveConfig()
        self.policy_loss: Part = POLICY_LOSSES.get(self.config.policy_loss)
        self.modifiers: list[Part] = [MODIFIERS.get(name) for name in self.config.modifiers]
        self.terms: list[tuple[str, Part]] = [(name, TERMS.get(name)) for name in self.config.terms]
        self._selected = self.inputs | {"entropy"}  # entropy: the actor/entropy metric

    @property
    def parts(self) -> list[Part]:
        return [self.policy_loss, *self.modifiers, *(part for _, part in self.terms)]

    @property
    def reads(self) -> frozenset[str]:
        """Every :class:`Control` field some part of this objective reads."""
        return frozenset().union(*(part.reads for part in self.parts))

    @property
    def ratio_knobs(self) -> frozenset[str]:
        """Knobs that act only when the importance ratio leaves 1 (several updates per batch)."""
        return frozenset().union(*(part.ratio_knobs for part in self.parts))

    @property
    def inputs(self) -> frozenset[str]:
        """Every :class:`PolicyBatch` value field some part of this objective reads."""
        return frozenset().union(*(part.inputs for part in self.parts))

    @property
    def needs_entropy(self) -> bool:
        """Whether a term or modifier reads the full-distribution token entropy."""
        return "entropy" in self.inputs

    def __call__(self, batch: PolicyBatch, control: Control) -> tuple[torch.Tensor, Metrics]:
        """Evaluate the objective.

        Returns
        -------
        loss : FloatTensor [R]
            One loss per run; summing them and back-propagating gives each run its own gradient.
        metrics : dict[str, FloatTensor [R]]
            ``actor/pg_loss``, ``actor/loss``, ``actor/entropy`` (when available) and every part's own.
        """
        if control.num_runs not in (None, batch.num_runs):
            raise ValueError(f"Control holds {control.num_runs} runs, the batch {batch.num_runs}")
        cfg = self.config
        batch = batch.select_valid(self._selected)
        aggregate = partial(agg_loss, mode=cfg.loss_agg_mode, run=batch.run, num_runs=batch.num_runs,
                            loss_scale_factor=cfg.loss_scale_factor, weights=batch.weights, select=False)
        policy = self.policy_loss.fn(batch, control)
        metrics: Metrics = dict(policy.metrics)
        weight, keep = None, None  # None: 1 everywhere
        for part in self.modifiers:
            w, part_metrics = part.fn(batch, control, cfg) if part.configured else part.fn(batch, control)
            weight = w if weight is None else weight * w
            if part.selects:
                keep = w if keep is None else keep * w
            metrics.update(part_metrics)
        if policy.pg_weight is not None:  # -w * logp: one weighted row sum
            pg_weight = policy.pg_weight if weight is None else policy.pg_weight * weight.detach()
            pg_loss = linear_agg_loss(batch.log_probs, pg_weight, batch.mask, cfg.loss_agg_mode, batch.run,
                                      batch.num_runs, cfg.loss_scale_factor, batch.weights)
        else:
            token_loss = policy.token_loss if weight is None else policy.token_loss * weight
            pg_loss = aggregate(token_loss, batch.mask)
        loss = pg_loss
        if keep is None and self.terms:
            keep = torch.ones_like(batch.mask)
        for name, part in self.terms:
            term_loss, part_metrics = part.fn(batch, control, aggregate, keep, cfg)
            loss = loss + term_loss
            metrics[f"actor/{name}_term"] = term_loss.detach()
            metrics.update(part_metrics)
        metrics["actor/pg_loss"] = pg_loss.detach()
        metrics["actor/loss"] = loss.detach()
        if batch.entropy is not None:
            metrics["actor/entropy"] = masked_mean_per_run(batch.entropy.detach(), batch.weighted_mask,
                                                           batch.run, batch.num_runs)
        return loss, {k: v.detach() for k, v in metrics.items()}
