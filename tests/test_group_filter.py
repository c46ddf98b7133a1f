"""The group filter keeps exactly the groups its rule names, on hand-made rollouts."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from entropic.group_filter import FilterGroupsConfig, kept_groups
from entropic.protocol import Rollout


def rollout_of(correct: list[list[float]], rewards: list[list[float]] | None = None) -> Rollout:
    """One run's groups, one list of verdicts each (rewards default to the verdicts)."""
    group = torch.tensor([g for g, values in enumerate(correct) for _ in values])
    flat = torch.tensor([v for values in correct for v in values])
    reward = flat if rewards is None else torch.tensor([v for values in rewards for v in values])
    B = flat.numel()
    return Rollout(tokens=torch.zeros(B, 1, dtype=torch.long), mask=torch.ones(B, 1), rewards=reward, group=group,
                   old_log_probs=torch.zeros(B, 1), extras={"correct": flat})


GROUPS = [[1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 1], [1, 1, 0, 0], [1]]
"""Accuracies 1, 0, 0.25, 0.75, 0.5 and a group of one (accuracy 1)."""


def keep(config: FilterGroupsConfig, rollout: Rollout | None = None) -> list[bool]:
    return kept_groups(rollout_of(GROUPS) if rollout is None else rollout, config)[1].tolist()


def test_dapo_drops_exactly_the_all_right_and_all_wrong_groups_and_keeps_a_group_of_one() -> None:
    assert keep(FilterGroupsConfig(rule="mixed", metric="acc")) == [False, False, True, True, True, True]


@pytest.mark.parametrize("low, high, expected", [
    (0.25, 0.5, [False, False, True, False, True, False]),   # both bounds inclusive
    (0.2, 0.8, [False, False, True, True, True, False]),
    (0.0, 1.0, [True] * 6),
    (0.26, 0.74, [False, False, False, False, True, False]),
    (1.0, 1.0, [True, False, False, False, False, True]),
])
def test_the_accuracy_range_keeps_exactly_the_groups_in_range(low: float, high: float, expected: list[bool]) -> None:
    assert keep(FilterGroupsConfig(rule="range", metric="acc", low=low, high=high)) == expected


def test_the_metric_decides_what_all_equal_means() -> None:
    # every response correct, but a length penalty makes the rewards differ in the first group only
    rollout = rollout_of([[1, 1, 1], [1, 1, 1]], rewards=[[1.0, 0.9, 1.0], [1.0, 1.0, 1.0]])
    assert keep(FilterGroupsConfig(rule="mixed", metric="acc"), rollout) == [False, False]
    assert keep(FilterGroupsConfig(rule="mixed", metric="reward"), rollout) == [True, False]
    # the range rule reads the mean reward: (1 + 0.9 + 1) / 3
    assert keep(FilterGroupsConfig(rule="range", metric="reward", low=0.0, high=0.97), rollout) == [True, False]


def test_groups_are_told_apart_by_their_ids_in_any_row_order() -> None:
    rollout = rollout_of(GROUPS)
    order = torch.randperm(rollout.batch_size, generator=torch.Generator().manual_seed(0))
    groups, kept = kept_groups(rollout.select(order), FilterGroupsConfig(rule="mixed", metric="acc"))
    assert kept.tolist() == keep(FilterGroupsConfig(rule="mixed", metric="acc"))
    assert groups.counts.tolist() == [4, 4, 4, 4, 4, 1]


def test_acc_needs_the_verdicts_and_weighted_rollouts_are_refused() -> None:
    rollout = rollout_of(GROUPS)
    with pytest.raises(ValueError, match="metric=acc"):
        kept_groups(replace(rollout, extras={}), FilterGroupsConfig(metric="acc"))
    weighted = replace(rollout, weights=torch.ones(rollout.batch_size))
    with pytest.raises(ValueError, match="backend.mode=sampled"):
        kept_groups(weighted, FilterGroupsConfig())


@pytest.mark.parametrize("options, field", [
    (dict(rule="flat"), "rule"), (dict(metric="score"), "metric"), (dict(low=math.nan), "low"),
    (dict(high=math.inf), "high"), (dict(low=0.8, high=0.2), "low"),
    (dict(max_num_gen_batches=0), "max_num_gen_batches"),
])
def test_bad_settings_are_refused_naming_the_field(options: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"trainer\.filter_groups\.{field}"):
        FilterGroupsConfig(**options)
