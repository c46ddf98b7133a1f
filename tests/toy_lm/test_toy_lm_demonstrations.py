"""LUFFY's demonstrations on the toy LM: each group's first rows are the problem's verified solution."""

from __future__ import annotations

import pytest
import torch

from entropic.sims.toy_lm import ToyLMBackend
from entropic.sims.toy_lm.tasks import EOS, PAD


@pytest.mark.parametrize("task", ["addition", "countdown"])
def test_demonstrations_are_verified_solutions_in_each_groups_first_rows(tiny, task: str) -> None:
    R, P, G = 2, 3, 4
    backend = ToyLMBackend(tiny(task=task, num_prompts=P, group_size=G, off_policy_share=0.5), num_runs=R)
    rollout = backend.rollout()
    off = rollout.off_policy
    assert torch.equal(off, torch.tensor([True, True, False, False]).repeat(R * P))
    problem = rollout.extras["problem"]
    solutions = backend.train_set.answers[problem[off]]  # answer, <eos>, padding
    width = solutions.shape[1]
    assert torch.equal(rollout.tokens[off, :width], solutions) and bool((rollout.tokens[off, width:] == PAD).all())
    assert torch.equal(rollout.mask[off], (rollout.tokens[off] != PAD).to(rollout.mask.dtype))
    assert bool((rollout.tokens[off] == EOS).any(-1).all())
    assert bool((rollout.extras["correct"][off] == 1).all()) and bool((rollout.rewards[off] == 1).all())
    assert bool((rollout.old_log_probs[off] == 0).all()) and bool((rollout.sample_log_probs[off] == 0).all())
    # the reference scores the demonstration (nothing trained yet: what the policy gives it)
    stats = backend.score(rollout, entropy="none")
    torch.testing.assert_close(rollout.ref_log_probs[off], stats.log_probs.detach()[off])
    torch.testing.assert_close(rollout.old_log_probs[~off], stats.log_probs.detach()[~off])


def test_response_metrics_are_the_samples_and_the_sample_stream_is_unchanged(tiny) -> None:
    guided = ToyLMBackend(tiny(num_prompts=4, group_size=4, off_policy_share=0.25), num_runs=2)
    plain = ToyLMBackend(tiny(num_prompts=4, group_size=4), num_runs=2)
    with_demos, without = guided.rollout(), plain.rollout()
    samples = ~with_demos.off_policy
    assert torch.equal(with_demos.tokens[samples], without.tokens[samples])
    accuracy = with_demos.extras["correct"].view(2, 16)[:, samples[:16]].mean(-1)
    torch.testing.assert_close(guided.step()["response/accuracy"], accuracy)


def test_a_share_that_rounds_to_no_demonstration_is_refused(tiny) -> None:
    with pytest.raises(ValueError, match=r"ToyLMConfig.off_policy_share=0.1 gives no demonstration"):
        tiny(group_size=4, off_policy_share=0.1)
