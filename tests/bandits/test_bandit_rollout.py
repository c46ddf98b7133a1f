"""Rollouts: layout, sampled frequencies against pi, reward noise, exact-mode enumeration, scoring."""

from __future__ import annotations

import pytest
import torch

from entropic.protocol import Backend
from entropic.sims import BanditConfig, SoftmaxBanditBackend

SMALL = dict(num_prompts=3, num_arms=8, num_correct=2, init_entropy=1.6, init_accuracy=0.3)


def test_backend_satisfies_the_protocol() -> None:
    assert isinstance(SoftmaxBanditBackend(BanditConfig(**SMALL)), Backend)


def test_rows_are_laid_out_run_by_run_with_unique_groups() -> None:
    R, P, G = 3, 3, 5
    rollout = SoftmaxBanditBackend(BanditConfig(group_size=G, **SMALL), num_runs=R).rollout()
    assert rollout.tokens.shape == (R * P * G, 1) and rollout.num_runs == R
    assert torch.equal(rollout.run, torch.arange(R).repeat_interleave(P * G))
    assert torch.equal(rollout.prompts, torch.arange(P).repeat_interleave(G).repeat(R))
    assert torch.equal(rollout.group, rollout.run * P + rollout.prompts)
    assert rollout.weights is None and bool((rollout.mask == 1).all())


def test_sampled_arm_frequencies_match_the_policy() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    G = 20_000
    backend = SoftmaxBanditBackend(BanditConfig(group_size=G, **SMALL), num_runs=2)
    probs = torch.softmax(backend.policy.logits().detach(), dim=-1)[:, :, 0].double()  # [R, P, K]
    tokens = backend.rollout().tokens.view(2, 3, G)
    counts = torch.nn.functional.one_hot(tokens, 8).sum(-2).double()  # [R, P, K]
    expected = probs * G
    chi2 = ((counts - expected) ** 2 / expected).sum(-1)  # [R, P], 7 degrees of freedom each
    p_values = scipy_stats.chi2.sf(chi2.numpy(), df=7)
    assert p_values.min() > 1e-4, p_values


def test_old_and_ref_log_probs_and_noise_free_rewards() -> None:
    backend = SoftmaxBanditBackend(BanditConfig(group_size=6, **SMALL), num_runs=2)
    rollout = backend.rollout()
    log_probs = torch.log_softmax(backend.policy.logits().detach(), dim=-1)[:, :, 0]  # [R, P, K]
    expected = log_probs[rollout.run, rollout.prompts, rollout.tokens[:, 0]]
    assert torch.equal(rollout.old_log_probs[:, 0], expected)
    assert torch.allclose(rollout.ref_log_probs, rollout.old_log_probs)  # no step yet: pi = pi_ref
    verdict = backend.task.correct[rollout.prompts, 0, rollout.tokens[:, 0]].float()
    assert torch.equal(rollout.rewards, verdict) and torch.equal(rollout.extras["correct"], verdict)


def test_reward_noise_pays_correct_with_q_and_wrong_with_eps() -> None:
    config = BanditConfig(group_size=20_000, reward_correct=0.7, reward_wrong=0.1, **SMALL)
    rollout = SoftmaxBanditBackend(config).rollout()
    correct = rollout.extras["correct"] > 0
    for mask, rate in ((correct, 0.7), (~correct, 0.1)):
        observed = float(rollout.rewards[mask].mean())
        assert abs(observed - rate) < 5 * (rate * (1 - rate) / int(mask.sum())) ** 0.5


def test_successive_rollouts_differ_and_replay_from_the_counter() -> None:
    backend = SoftmaxBanditBackend(BanditConfig(group_size=16, **SMALL))
    first, second = backend.rollout(), backend.rollout()
    assert not torch.equal(first.tokens, second.tokens)
    backend.rollout_count = 0
    assert torch.equal(backend.rollout().tokens, first.tokens)


@pytest.mark.parametrize("seq_len", [1, 2])
def test_exact_mode_enumerates_every_response_and_verifier_outcome(seq_len: int) -> None:
    G, K, P = 4, 5, 3
    config = BanditConfig(mode="exact", group_size=G, num_prompts=P, num_arms=K, num_correct=2,
                          init_entropy=1.2, init_accuracy=0.3, seq_len=seq_len, reward_correct=0.9,
                          reward_wrong=0.05, dtype="float64")
    backend = SoftmaxBanditBackend(config, num_runs=2)
    rollout = backend.rollout()
    n = K ** seq_len
    assert rollout.tokens.shape == (2 * P * n * 2, seq_len)  # every response, paid and unpaid
    group_weight = torch.zeros(2 * P, dtype=torch.float64).index_add(0, rollout.group, rollout.weights)
    assert torch.allclose(group_weight, torch.full_like(group_weight, G))
    probs = torch.softmax(backend.policy.logits().detach(), dim=-1)  # [R, P, T, K]
    pi = torch.ones_like(rollout.weights)
    for t in range(seq_len):
        pi = pi * probs[rollout.run, rollout.prompts, t, rollout.tokens[:, t]]
    pay = torch.where(rollout.extras["correct"] > 0, torch.tensor(0.9, dtype=torch.float64), 0.05)
    paid = torch.arange(rollout.batch_size) % 2 == 0
    assert torch.equal(rollout.rewards, paid.double())
    assert torch.allclose(rollout.weights, G * pi * torch.where(paid, pay, 1 - pay), rtol=1e-12, atol=0)
    # expected reward under the weights = evaluate's pass@1
    run_reward = torch.zeros(2, dtype=torch.float64).index_add(0, rollout.run, rollout.weights * rollout.rewards)
    assert torch.allclose(run_reward / (P * G), backend.evaluate()["eval/pass@1"], rtol=1e-12, atol=0)


def test_score_matches_rollout_and_works_on_a_subset_of_rows() -> None:
    backend = SoftmaxBanditBackend(BanditConfig(group_size=4, seq_len=2, **SMALL), num_runs=2)
    rollout = backend.rollout()
    stats = backend.score(rollout)
    assert torch.equal(stats.log_probs.detach(), rollout.old_log_probs)
    assert stats.log_probs.requires_grad and stats.entropy.requires_grad
    assert stats.logits.shape == (rollout.batch_size, 2, 8)
    entropy = -(torch.softmax(stats.logits, -1) * torch.log_softmax(stats.logits, -1)).sum(-1)
    assert torch.allclose(stats.entropy, entropy, atol=1e-6)
    index = torch.tensor([17, 3, 20, 21, 0])
    subset = backend.score(rollout.select(index), entropy="none")
    assert torch.equal(subset.log_probs, stats.log_probs[index]) and subset.entropy is None


@pytest.mark.parametrize("mode", ["sampled", "exact"])
def test_whole_rollout_and_row_subset_paths_give_the_same_gradient_bits(mode: str) -> None:
    """A whole rollout is read with a gather, a subset with an index: both add a logit's gradients in row order."""
    backend = SoftmaxBanditBackend(BanditConfig(group_size=4, seq_len=2, mode=mode, **SMALL), num_runs=3)
    rollout = backend.rollout()
    weights = torch.randn(rollout.tokens.shape, generator=torch.Generator().manual_seed(0))
    gradients = []
    for batch in (rollout, rollout.select(torch.arange(rollout.batch_size))):
        (backend.score(batch, entropy="none").log_probs * weights).sum().backward()
        gradients.append(backend.policy.params["logits"].grad.clone())
        backend.policy.params["logits"].grad = None
    assert torch.equal(gradients[0], gradients[1])


def test_score_refuses_foreign_rollouts() -> None:
    backend = SoftmaxBanditBackend(BanditConfig(**SMALL), num_runs=2)
    rollout = backend.rollout()
    with pytest.raises(ValueError, match="score needs a rollout of this backend"):
        SoftmaxBanditBackend(BanditConfig(**SMALL), num_runs=3).score(rollout)
