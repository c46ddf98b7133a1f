"""Redraws of the toy LM (dynamic sampling): new problems and responses per run, no counter moved."""

from __future__ import annotations

import torch

from entropic.protocol import SupportsRedraw
from entropic.sims.toy_lm import ToyLMBackend


def test_a_redraw_is_fresh_per_run_and_leaves_the_next_rollout_and_the_metrics_unchanged(tiny) -> None:
    seeds = torch.tensor([4, 8])
    backend = ToyLMBackend(tiny(), num_runs=2, seeds=seeds)
    assert isinstance(backend, SupportsRedraw)
    first = backend.rollout()
    stats = dict(backend._response_stats)
    again = backend.redraw(1)
    assert backend.rollout_count == 1 and backend._response_stats.keys() == stats.keys()
    assert all(torch.equal(backend._response_stats[k], v) for k, v in stats.items())  # the step's first draw
    assert not torch.equal(first.extras["problem"], again.extras["problem"])
    following = backend.rollout()
    plain = ToyLMBackend(tiny(), num_runs=2, seeds=seeds)
    plain.rollout()
    assert torch.equal(following.tokens, plain.rollout().tokens)
    alone = ToyLMBackend(tiny(), num_runs=1, seeds=seeds[1:])
    alone.rollout()
    assert torch.equal(alone.redraw(1).tokens, again.tokens[again.run == 1])
