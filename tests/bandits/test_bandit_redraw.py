"""Redraws (dynamic sampling): fresh draws of the same step, per run, that move no counter."""

from __future__ import annotations

import pytest
import torch

from entropic.protocol import SupportsRedraw
from entropic.sims import BanditConfig, SoftmaxBanditBackend
from entropic.sims.rng import REDRAW_SHIFT, redraw_counter, uniform


def test_redraw_counters_are_distinct_from_every_rollout_and_each_other() -> None:
    assert redraw_counter(7, 0) == 7
    counters = {redraw_counter(c, d) for c in (0, 1, 7, 2**40 - 1) for d in range(4)}
    assert len(counters) == 16 and redraw_counter(3, 1) == 3 + 2**REDRAW_SHIFT
    seeds = torch.tensor([5, 6])
    assert not torch.equal(uniform(seeds, 3, 0, 8), uniform(seeds, redraw_counter(3, 1), 0, 8))
    for bad in ((-1, 1), (2**40, 1), (0, -1), (0, 2**23)):
        with pytest.raises(ValueError, match="redraw_counter"):
            redraw_counter(*bad)


def test_a_redraw_is_fresh_per_run_and_leaves_later_rollouts_unchanged() -> None:
    config = BanditConfig(num_prompts=8, group_size=4, reward_correct=0.9, reward_wrong=0.1)
    seeds = torch.tensor([3, 17, 29])
    batched = SoftmaxBanditBackend(config, num_runs=3, seeds=seeds)
    assert isinstance(batched, SupportsRedraw)
    first = batched.rollout()
    again = [batched.redraw(d) for d in (1, 2)]
    assert batched.rollout_count == 1
    assert not torch.equal(first.tokens, again[0].tokens) and not torch.equal(again[0].tokens, again[1].tokens)
    assert torch.equal(again[0].group, first.group)  # the same prompts, drawn again
    following = batched.rollout()
    plain = SoftmaxBanditBackend(config, num_runs=3, seeds=seeds)
    plain.rollout()
    assert torch.equal(following.tokens, plain.rollout().tokens)  # the redraws moved nothing
    alone = SoftmaxBanditBackend(config, num_runs=1, seeds=seeds[1:2])
    alone.rollout()
    rows = first.run == 1
    assert torch.equal(alone.redraw(2).tokens, again[1].tokens[rows])
    assert torch.equal(SoftmaxBanditBackend(config, num_runs=1, seeds=seeds[1:2]).rollout().rewards,
                       first.rewards[rows])
    with pytest.raises(ValueError, match="redraw"):
        SoftmaxBanditBackend(config).redraw(1)
