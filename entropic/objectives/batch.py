"""The tensors one objective evaluation reads, gathered from a rollout and a score."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import torch

from entropic.protocol import Rollout, TokenStats
from entropic.reduce import select_valid

TOKEN_FIELDS = ("log_probs", "old_log_probs", "advantages", "entropy", "ref_log_probs", "sample_log_probs")
"""The ``[B, T]`` value fields, whose entries outside ``mask`` no objective part may read."""


@dataclass
class PolicyBatch:
    """Inputs of every objective term, all ``[B, T]`` unless stated.

    Attributes
    ----------
    log_probs : FloatTensor [B, T]
        log pi_theta (with grad).
    old_log_probs : FloatTensor [B, T]
        log pi_old (no grad).
    advantages : FloatTensor [B, T]
        Advantage of each token (0 on padding).
    mask : FloatTensor [B, T]
        Valid response tokens (0/1).
    run : LongTensor [B]
        Independent-run id of each row.
    num_runs : int
        R.
    weights : FloatTensor [B], optional
        Row weights of an exact-expectation rollout (``Rollout.weights``); ``None`` = 1.
    entropy : FloatTensor [B, T], optional
        Full-distribution token entropy (with grad when the backend provides it).
    ref_log_probs, sample_log_probs : FloatTensor [B, T], optional
        Reference-policy and sampler log-probs.
    generators : list[torch.Generator], optional
        One RNG per run for randomised terms (Clip-Cov's token choice); seeded by the
        caller so a run's randomness does not depend on the other runs.
    off_policy : BoolTensor [B], optional
        Demonstration rows (``Rollout.off_policy``); ``None``: every row is on-policy.
    verified_steps : BoolTensor [B, T], optional
        Tokens of verified steps (``Rollout.verified_steps``); ``None``: the backend checks no steps.
    correct : BoolTensor [B], optional
        The verifier's verdict of each response (``Rollout.extras["correct"] > 0``); ``None``: not given.
    """

    log_probs: torch.Tensor
    old_log_probs: torch.Tensor
    advantages: torch.Tensor
    mask: torch.Tensor
    run: torch.Tensor
    num_runs: int = 1
    weights: torch.Tensor | None = None
    entropy: torch.Tensor | None = None
    ref_log_probs: torch.Tensor | None = None
    sample_log_probs: torch.Tensor | None = None
    generators: list[torch.Generator] | None = None
    off_policy: torch.Tensor | None = None
    verified_steps: torch.Tensor | None = None
    correct: torch.Tensor | None = None

    def __post_init__(self) -> None:
        shape = tuple(self.log_probs.shape)
        for name in (*TOKEN_FIELDS[1:], "mask", "verified_steps"):
            value = getattr(self, name)
            if value is not None and tuple(value.shape) != shape:
                raise ValueError(f"PolicyBatch.{name} must have shape {list(shape)} like log_probs, "
                                 f"got {list(value.shape)}")
        for name in ("run", "weights", "off_policy", "correct"):
            value = getattr(self, name)
            if value is not None and tuple(value.shape) != shape[:1]:
                raise ValueError(f"PolicyBatch.{name} must have shape [{shape[0]}], got {list(value.shape)}")
        if self.generators is not None and len(self.generators) != self.num_runs:
            raise ValueError(f"PolicyBatch.generators must hold one generator per run "
                             f"({self.num_runs}), got {len(self.generators)}")

    @classmethod
    def from_step(cls, rollout: Rollout, stats: TokenStats, advantages: torch.Tensor,
                  generators: list[torch.Generator] | None = None) -> PolicyBatch:
        """Assemble the batch of one optimisation step."""
        return cls(
            log_probs=stats.log_probs, old_log_probs=rollout.old_log_probs, advantages=advantages,
            mask=rollout.mask, run=rollout.run_ids(), num_runs=rollout.num_runs,
            weights=rollout.weights, entropy=stats.entropy,
            ref_log_probs=rollout.ref_log_probs, sample_log_probs=rollout.sample_log_probs,
            generators=generators, off_policy=rollout.off_policy, verified_steps=rollout.verified_steps,
            correct=rollout.extras["correct"] > 0 if "correct" in rollout.extras else None)

    def select_valid(self, names: frozenset[str] | tuple[str, ...] = TOKEN_FIELDS) -> PolicyBatch:
        """This batch with the ``[B, T]`` value fields ``names`` passed through :func:`~entropic.reduce.select_valid`.

        A backend may leave NaN or ``-inf`` on padding (an LLM's pad positions); after this they
        reach no loss, metric or gradient of a part that reads only ``names``, and ``log_probs``
        gets a gradient of exactly 0 there. Returns ``self`` when nothing needed a selection.
        """
        changes = {}
        for name in names:
            value = getattr(self, name)
            if value is not None and (selected := select_valid(value, self.mask)) is not value:
                changes[name] = selected
        return replace(self, **changes) if changes else self

    @cached_property
    def weighted_mask(self) -> torch.Tensor:
        """FloatTensor [B, T]: ``mask`` times the row weights, the measure of every token mean (made once)."""
        if self.weights is None:
            return self.mask
        return self.mask * self.weights.unsqueeze(-1)

    def require(self, name: str, term: str) -> torch.Tensor:
        """Return an optional field, or raise ``ValueError`` saying which term needs it."""
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"objective term {term!r} needs PolicyBatch.{name}, which the backend did not "
                             f"provide")
        return value
