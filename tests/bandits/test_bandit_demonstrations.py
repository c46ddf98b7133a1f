"""LUFFY's demonstrations on the bandit: an oracle uniform over the correct arms in each group's first rows."""

from __future__ import annotations

import pytest
import torch

from entropic.observe import observe
from entropic.sims import BanditConfig, SoftmaxBanditBackend

SMALL = dict(num_prompts=3, num_arms=8, num_correct=2, init_entropy=1.6, init_accuracy=0.3)


def test_each_group_starts_with_its_share_of_verified_demonstrations() -> None:
    R, P, G = 2, 3, 8
    backend = SoftmaxBanditBackend(BanditConfig(group_size=G, off_policy_share=0.25, **SMALL), num_runs=R)
    rollout = backend.rollout()
    off = rollout.off_policy.view(R, P, G)
    assert bool(off[..., :2].all()) and not bool(off[..., 2:].any())  # round(0.25 x 8) = 2, first in the group
    demo = rollout.off_policy
    assert bool(backend.task.is_correct(rollout.prompts[demo], rollout.tokens[demo]).all())
    assert bool((rollout.rewards[demo] == 1).all()) and bool((rollout.extras["correct"][demo] == 1).all())
    assert bool((rollout.old_log_probs[demo] == 0).all())  # the demonstrator's pi_phi = 1
    prior = torch.log_softmax(backend.policy.prior, -1)  # the reference: the initial policy
    torch.testing.assert_close(rollout.ref_log_probs[demo, 0],
                               prior[rollout.prompts[demo], 0, rollout.tokens[demo, 0]])
    samples = ~demo  # the samples keep their own log-probs
    stats = backend.score(rollout, entropy="none")
    torch.testing.assert_close(rollout.old_log_probs[samples], stats.log_probs.detach()[samples])


def test_the_oracle_is_uniform_over_the_correct_arms() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    G = 4000
    backend = SoftmaxBanditBackend(BanditConfig(group_size=G, off_policy_share=1.0, **SMALL), num_runs=1)
    rollout = backend.rollout()
    counts = torch.nn.functional.one_hot(rollout.tokens.view(3, G), 8).sum(1)  # [P, K]
    assert bool((counts[~backend.task.correct[:, 0]] == 0).all())  # never a wrong arm
    correct = counts[backend.task.correct[:, 0]].view(3, 2).double()
    p_values = scipy_stats.chisquare(correct.numpy(), axis=1).pvalue
    assert p_values.min() > 1e-4, p_values


def test_demonstrations_replay_from_the_counter_and_leave_the_sample_stream_alone() -> None:
    config = dict(group_size=6, seq_len=2, num_arms=8, num_correct=3, init_entropy=1.5, num_prompts=4)
    guided = SoftmaxBanditBackend(BanditConfig(off_policy_share=0.5, **config), num_runs=2)
    plain = SoftmaxBanditBackend(BanditConfig(**config), num_runs=2)
    first, again = guided.rollout(), guided.rollout()
    guided.rollout_count = 0
    assert torch.equal(guided.rollout().tokens, first.tokens) and not torch.equal(again.tokens, first.tokens)
    samples = ~first.off_policy  # the samples are the draws of a run without demonstrations
    assert torch.equal(first.tokens[samples], plain.rollout().tokens[samples])


@pytest.mark.parametrize(("fields", "message"), [
    (dict(off_policy_share=1.5), r"BanditConfig.off_policy_share must be a number in \[0, 1\], got 1.5"),
    (dict(off_policy_share=0.05), r"off_policy_share=0.05 gives no demonstration in a group of group_size=8"),
    (dict(off_policy_share=0.5, mode="exact"), r"BanditConfig.off_policy_share must be 0 in exact mode"),
])
def test_bad_shares_are_refused_naming_the_field(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BanditConfig(**fields)


def test_the_batch_reward_is_the_policy_s_own_responses() -> None:
    R, P, G = 2, 3, 8
    backend = SoftmaxBanditBackend(BanditConfig(group_size=G, off_policy_share=0.25, **SMALL), num_runs=R)
    rollout = backend.rollout()
    stats = backend.score(rollout, entropy="none")
    reading = observe(0, rollout, stats, torch.zeros_like(rollout.mask), names=["reward/mean"]).values["reward/mean"]
    own = rollout.rewards.view(R, P, G)[..., 2:]  # each group's 6 samples after its 2 demonstrations (reward 1)
    torch.testing.assert_close(reading, own.reshape(R, -1).mean(-1))
    assert bool((reading < 1).all())  # the demonstrations' rewards of 1 would have lifted it
