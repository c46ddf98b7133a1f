"""Redraws of the LLM backend (dynamic sampling): fresh problems, no counter moved, prompts padded on the left."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from entropic.protocol import Rollout, SupportsRedraw


def test_a_redraw_is_fresh_and_leaves_the_next_rollout_unchanged(make_backend) -> None:
    backend = make_backend(seed=3)
    assert isinstance(backend, SupportsRedraw)
    first = backend.rollout()
    again = backend.redraw(1)
    assert backend.rollouts == 1 and not torch.equal(first.tokens, again.tokens)
    assert torch.equal(backend.redraw(1).tokens, again.tokens)  # keyed by (rollout, draw): the same draw again
    plain = make_backend(seed=3)
    plain.rollout()
    assert torch.equal(backend.rollout().tokens, plain.rollout().tokens)


def test_left_padding_added_by_concat_changes_no_log_prob(make_backend) -> None:
    backend = make_backend()
    rollout = backend.rollout()
    wider = replace(rollout, prompts=F.pad(rollout.prompts, (3, 0)), prompt_mask=F.pad(rollout.prompt_mask, (3, 0)))
    both = Rollout.concat([rollout, wider])
    assert both.prompts.shape[1] == rollout.prompts.shape[1] + 3
    with torch.no_grad():
        alone, padded = backend.score(rollout, "detached"), backend.score(both, "detached")
    B = rollout.batch_size
    for half in (padded.log_probs[:B], padded.log_probs[B:]):
        torch.testing.assert_close(half, alone.log_probs, rtol=0, atol=1e-5)
    torch.testing.assert_close(padded.entropy[:B], alone.entropy, rtol=0, atol=1e-5)
