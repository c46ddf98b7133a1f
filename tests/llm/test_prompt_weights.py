"""The LLM backend's curriculum hook: problems drawn from the weights, on each draw's own generator."""

from __future__ import annotations

import torch

from entropic.protocol import SupportsCurriculum


def test_problems_are_drawn_from_the_curriculum_weights(make_backend) -> None:
    backend = make_backend(seed=2)
    assert isinstance(backend, SupportsCurriculum)
    pool, G = backend.prompt_pool, backend.config.group_size
    assert pool == len(backend.train_problems) and pool >= 4
    problem = backend.prompt_index(backend.rollout())  # a problem per row, the same for the rows of a group
    assert torch.equal(problem, problem[::G].repeat_interleave(G)) and bool((problem < pool).all())
    allowed = torch.tensor([1, 3])
    weights = torch.zeros(1, pool, dtype=torch.float64)
    weights[0, allowed] = 1.0
    backend.set_prompt_weights(weights)
    second = backend.rollout()
    for rollout in (second, backend.redraw(1)):
        assert bool(torch.isin(backend.prompt_index(rollout), allowed).all())
    again = make_backend(seed=2)  # the same seed and weights: the same problems
    again.rollout()
    again.set_prompt_weights(weights)
    assert torch.equal(backend.prompt_index(second), again.prompt_index(again.rollout()))
