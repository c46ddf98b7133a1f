"""Registries of objective parts: policy losses, token modifiers and extra loss terms.

Every part is a plain function registered under a name (verl's
``@register_policy_loss("vanilla")`` idea) together with the :class:`~entropic.control.Control`
fields it reads. The objective uses that declaration to tell the user when a
controller drives a knob that no configured term reads, or when a knob only
acts off-policy (ratio != 1) and the loop makes one update per batch.

Signatures (one :class:`typing.Protocol` per family):

- policy loss: ``fn(batch, control) -> PolicyLoss`` (per-token loss ``[B, T]``);
- modifier: ``fn(batch, control) -> (weight [B, T], metrics)``, multiplies the policy loss; one
  registered ``configured`` also takes the :class:`~entropic.objectives.config.ObjectiveConfig`,
  ``fn(batch, control, config)``, for constants that are not a controller's knobs;
- term: ``fn(batch, control, aggregate, keep, config) -> (loss [R], metrics)``, added to the
  objective (``keep`` is the 0/1 token selection of the modifiers, ``[B, T]``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import torch

from entropic.control import Control, control_fields
from entropic.objectives.batch import TOKEN_FIELDS, PolicyBatch
from entropic.registry import Registry

if TYPE_CHECKING:
    from entropic.objectives.config import ObjectiveConfig

Metrics = dict[str, torch.Tensor]
"""Metric name -> per-run value ``[R]``."""


@dataclass
class PolicyLoss:
    """A policy-gradient loss before aggregation: its token loss, or its coefficient when it is linear.

    Attributes
    ----------
    token_loss : FloatTensor [B, T], optional
        Per-token loss, differentiable w.r.t. the log-probs.
    metrics : dict[str, FloatTensor [R]]
        Diagnostics (clip fractions, ...), per run.
    pg_weight : FloatTensor [B, T], optional
        Instead of ``token_loss``, for a REINFORCE-type loss: the token loss is
        ``-pg_weight * log_probs`` with ``pg_weight`` detached (the advantage). The objective then
        aggregates it as one weighted row sum, with a one-multiply backward, and never builds the
        token loss (:func:`~entropic.objectives.aggregation.linear_agg_loss`).
    """

    token_loss: torch.Tensor | None = None
    metrics: Metrics = field(default_factory=dict)
    pg_weight: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if (self.token_loss is None) == (self.pg_weight is None):
            raise ValueError("PolicyLoss needs exactly one of token_loss and pg_weight")


class PolicyLossFn(Protocol):
    def __call__(self, batch: PolicyBatch, control: Control) -> PolicyLoss: ...


class ModifierFn(Protocol):
    def __call__(self, batch: PolicyBatch, control: Control) -> tuple[torch.Tensor, Metrics]: ...


Aggregate = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``aggregate(loss_mat [B, T], mask [B, T]) -> [R]`` with the objective's mode and runs bound."""


class TermFn(Protocol):
    def __call__(self, batch: PolicyBatch, control: Control, aggregate: Aggregate, keep: torch.Tensor,
                 config: ObjectiveConfig) -> tuple[torch.Tensor, Metrics]: ...


@dataclass(frozen=True)
class Part:
    """A registered objective part and what it reads.

    Attributes
    ----------
    fn : callable
        The implementation.
    reads : frozenset[str]
        Control fields it reads.
    ratio_knobs : frozenset[str]
        The subset of ``reads`` that only acts when the importance ratio leaves 1, i.e. with
        more than one optimizer step per rollout batch.
    inputs : frozenset[str]
        :class:`PolicyBatch` value fields it reads (``log_probs``, ``entropy``, ...): only these
        are checked for non-finite padding, and a backend is asked for entropy only when some
        part reads it.
    selects : bool
        For modifiers: the weight is a token selection (0/1) that also applies to the entropy bonus.
    configured : bool
        For modifiers: ``fn`` also takes the objective's config, ``fn(batch, control, config)``.
    """

    fn: Callable
    reads: frozenset[str]
    ratio_knobs: frozenset[str] = frozenset()
    inputs: frozenset[str] = frozenset()
    selects: bool = False
    configured: bool = False


POLICY_LOSSES: Registry[Part] = Registry("policy loss", "objective.policy_loss")
MODIFIERS: Registry[Part] = Registry("token modifier", "objective.modifiers")
TERMS: Registry[Part] = Registry("loss term", "objective.terms")


def _part(registry: Registry[Part], name: str, reads: tuple[str, ...], ratio_knobs: tuple[str, ...],
          inputs: tuple[str, ...], selects: bool = False, configured: bool = False) -> Callable:
    unknown = set(reads) - set(control_fields())
    if unknown or not set(ratio_knobs) <= set(reads):
        raise ValueError(f"{registry.kind} {name!r} declares unknown Control fields {sorted(unknown)} "
                         f"or ratio knobs it does not read")
    if not set(inputs) <= set(TOKEN_FIELDS):
        raise ValueError(f"{registry.kind} {name!r} declares inputs {sorted(set(inputs) - set(TOKEN_FIELDS))} "
                         f"that are not PolicyBatch fields; allowed values: {list(TOKEN_FIELDS)}")

    def decorator(fn: Callable) -> Callable:
        registry.register(name)(Part(fn, frozenset(reads), frozenset(ratio_knobs), frozenset(inputs), selects,
                                     configured))
        return fn

    return decorator


def register_policy_loss(name: str, reads: tuple[str, ...] = (), ratio_knobs: tuple[str, ...] = (),
                         inputs: tuple[str, ...] = ("log_probs", "old_log_probs", "advantages")
                         ) -> Callable[[PolicyLossFn], PolicyLossFn]:
    """Register a policy loss under ``name`` (verl ``loss_mode`` names)."""
    return _part(POLICY_LOSSES, name, reads, ratio_knobs, inputs)


def register_modifier(name: str, reads: tuple[str, ...] = (), ratio_knobs: tuple[str, ...] = (),
                      inputs: tuple[str, ...] = (), selects: bool = False,
                      configured: bool = False) -> Callable[[ModifierFn], ModifierFn]:
    """Register a token modifier (a weight ``[B, T]`` on the policy loss) under ``name``; ``configured``: it
    also takes the objective's config."""
    return _part(MODIFIERS, name, reads, ratio_knobs, inputs, selects, configured)


def register_term(name: str, reads: tuple[str, ...] = (), ratio_knobs: tuple[str, ...] = (),
                  inputs: tuple[str, ...] = ()) -> Callable[[TermFn], TermFn]:
    """Register an extra loss term (entropy bonus, KL, ...) under ``name``."""
    return _part(TERMS, name, reads, ratio_knobs, inputs)
