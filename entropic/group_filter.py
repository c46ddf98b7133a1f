"""Which groups of a rollout carry a learning signal: DAPO's mixed groups, MiniRL's accuracy range.

A group is the responses to one prompt (rows sharing a ``Rollout.group`` id). Its values are one
metric per response: the sequence reward, or the verifier's 0/1 verdict. Two rules:

- ``mixed`` (DAPO's dynamic sampling, arXiv 2503.14476, and verl's ``algorithm.filter_groups``): keep
  a group whose values are not all equal (a group of one response is kept, as verl keeps it). With
  the 0/1 verdict this is DAPO's constraint ``0 < |{correct}| < G``: groups all right or all wrong,
  whose GRPO advantages are all 0, are dropped.
- ``range`` (MiniRL's accuracy-range filter, arXiv 2512.01374): keep a group whose mean value lies
  in ``[low, high]``.

:mod:`entropic.dynamic_sampling` draws until every run's batch is full of kept groups.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from entropic.protocol import Rollout
from entropic.reduce import Segments, id_segments

FILTER_RULES = ("mixed", "range")
"""``trainer.filter_groups.rule`` values."""
FILTER_METRICS = ("reward", "acc")
"""``trainer.filter_groups.metric`` values: the sequence reward, or the verifier's verdict (verl's names)."""


@dataclass
class FilterGroupsConfig:
    """Which groups a step trains on, and how many draws may fill its batch (``trainer.filter_groups``).

    Attributes
    ----------
    enable : bool
        Filter every step's groups and draw again until each run's batch holds as many kept groups as
        its first rollout has groups (verl ``algorithm.filter_groups.enable``). Default False.
    rule : str
        ``mixed``: keep a group whose metric is not the same for every response (DAPO). ``range``: keep
        a group whose mean metric lies in ``[low, high]`` (MiniRL). Allowed: ``mixed``, ``range``.
    metric : str
        What the rule reads per response: ``reward`` (the sequence reward, verl's default) or ``acc``
        (the verifier's 0/1 verdict, ``Rollout.extras['correct']``; DAPO's recipe). Allowed: ``reward``,
        ``acc``.
    low, high : float
        Bounds of the ``range`` rule, both inclusive; finite, ``low <= high``. Defaults 0 and 1.
    max_num_gen_batches : int
        Draws per step at most, the step's rollout included (verl's name; DAPO's recipe uses 10, the
        default). Range ``>= 1``: verl's 0 (no limit) is refused, a step never loops forever. A run
        still short after them completes its batch with the first groups the filter dropped, in draw
        order (``sampling/shortfall`` counts them).
    """

    enable: bool = False
    rule: str = "mixed"
    metric: str = "reward"
    low: float = 0.0
    high: float = 1.0
    max_num_gen_batches: int = 10

    def __post_init__(self) -> None:
        for name, allowed in (("rule", FILTER_RULES), ("metric", FILTER_METRICS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"trainer.filter_groups.{name} must be one of {list(allowed)}, "
                                 f"got {getattr(self, name)!r}")
        for name in ("low", "high"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"trainer.filter_groups.{name} must be finite, got {getattr(self, name)}")
        if self.low > self.high:
            raise ValueError(f"trainer.filter_groups.low={self.low} must be <= trainer.filter_groups.high={self.high}")
        if self.max_num_gen_batches < 1:
            raise ValueError(f"trainer.filter_groups.max_num_gen_batches must be >= 1 (draws per step, bounded: "
                             f"verl's 0 = no limit is refused), got {self.max_num_gen_batches}")


def response_values(rollout: Rollout, metric: str) -> torch.Tensor:
    """FloatTensor [B]: what the rule reads of each response, ``metric`` (:data:`FILTER_METRICS`)."""
    if metric == "reward":
        return rollout.sequence_rewards()
    if "correct" not in rollout.extras:
        raise ValueError("trainer.filter_groups.metric=acc reads the verifier's verdicts (Rollout.extras['correct']), "
                         "which this backend does not give; use metric=reward")
    return rollout.extras["correct"]


def kept_groups(rollout: Rollout, config: FilterGroupsConfig) -> tuple[Segments, torch.Tensor]:
    """The groups of ``rollout`` and which of them ``config``'s rule keeps.

    Returns
    -------
    groups : Segments
        Rows sharing a group id, groups in increasing id order (:meth:`Segments.of_ids`).
    keep : BoolTensor [K]
        Whether each group passes.

    Raises
    ------
    ValueError
        A weighted rollout (``backend.mode=exact`` enumerates responses: a group is no sample to filter).
    """
    if rollout.weights is not None:
        raise ValueError("trainer.filter_groups filters sampled groups, but this rollout enumerates its responses "
                         "with weights (exact mode); use backend.mode=sampled")
    values = response_values(rollout, config.metric).detach().double()
    groups, _ = id_segments(rollout.group)
    if config.rule == "mixed":
        return groups, (groups.amax(values) > groups.amin(values)) | (groups.counts == 1)
    mean = groups.sum(values) / groups.counts
    return groups, (mean >= config.low) & (mean <= config.high)
