"""SEED-GRPO: semantic entropy of known clusters, each scaling f, the estimator's closed form, answer ids."""

from __future__ import annotations

import hashlib
import math
import random

import pytest
import torch

from entropic.advantages import AdvantageConfig, cluster_sizes, compute_advantages, seed_scale, semantic_entropy
from entropic.advantages.seed_grpo import normalised_semantic_entropy
from entropic.protocol import Rollout
from entropic.reduce import Segments
from entropic.sims import BanditConfig, SoftmaxBanditBackend
from entropic.tasks import NO_ANSWER, Task, answer_id

F64 = torch.float64


def rollout_of(answer: list[int], group: list[int], rewards: list[float] | None = None,
               weights: torch.Tensor | None = None) -> Rollout:
    """A one-token rollout with the given answer ids and groups (rewards default to 0)."""
    B = len(answer)
    rewards = torch.tensor(rewards if rewards is not None else [0.0] * B, dtype=F64)
    return Rollout(tokens=torch.zeros(B, 1, dtype=torch.long), mask=torch.ones(B, 1, dtype=F64), rewards=rewards,
                   group=torch.tensor(group), old_log_probs=torch.zeros(B, 1, dtype=F64),
                   answer=torch.tensor(answer), weights=weights)


def test_cluster_sizes_count_equal_answers_of_a_group_and_keep_unanswered_rows_alone() -> None:
    segments, _ = Segments.of_ids(torch.tensor([4, 9, 4, 4, 9, 4]))
    sizes = cluster_sizes(torch.tensor([7, 7, 7, NO_ANSWER, NO_ANSWER, 2]), segments)
    assert sizes.tolist() == [2, 1, 2, 1, 1, 1]  # answer 7 of group 9 is not group 4's


@pytest.mark.parametrize(("answers", "expected"), [
    ([3, 3, 3, 3], 0.0),  # one meaning: certain
    ([0, 1, 2, 3], math.log(4)),  # all differ: SE_max = log n
    ([5, 5, 8, 9], 1.5 * math.log(2)),  # clusters 2, 1, 1: -(1/2 log 1/2 + 2 * 1/4 log 1/4)
    ([NO_ANSWER, NO_ANSWER, 6, 6], 1.5 * math.log(2)),  # unparseable responses are singletons
    ([1, 1, 1, 2, 2, 2], math.log(2)),  # two equal clusters
])
def test_semantic_entropy_of_known_clusters(answers: list[int], expected: float) -> None:
    entropy, groups = semantic_entropy(rollout_of(answers, [0] * len(answers)), F64)
    assert groups.num_groups == 1
    torch.testing.assert_close(entropy, torch.tensor([expected], dtype=F64), rtol=0, atol=1e-15)


def test_semantic_entropy_is_per_group_whatever_the_row_order() -> None:
    # groups 10 ([1, 1, 2]) and 3 ([4, 5]) interleaved; the entropy comes in increasing group-id order
    entropy, _ = semantic_entropy(rollout_of([1, 4, 1, 5, 2], [10, 3, 10, 3, 10]), F64)
    expected = [math.log(2), -(2 / 3) * math.log(2 / 3) - (1 / 3) * math.log(1 / 3)]
    torch.testing.assert_close(entropy, torch.tensor(expected, dtype=F64))
    uncertainty, _ = normalised_semantic_entropy(rollout_of([1, 4, 1, 5, 2], [10, 3, 10, 3, 10]), F64)
    torch.testing.assert_close(uncertainty, torch.tensor([1.0, expected[1] / math.log(3)], dtype=F64))


@pytest.mark.parametrize(("scaling", "expected"), [
    ("linear", [1.0, 0.6, 0.2]),  # 1 - alpha u with alpha = 0.8
    ("exponential", [1.0, math.exp(-0.4), math.exp(-0.8)]),
    ("focal", [1.0, 0.6**2, 0.2**2]),  # (1 - alpha u)^gamma, gamma = 2
])
def test_each_scaling_at_hand_worked_points(scaling: str, expected: list[float]) -> None:
    scale = seed_scale(torch.tensor([0.0, 0.5, 1.0], dtype=F64), 0.8, scaling, 2.0)
    torch.testing.assert_close(scale, torch.tensor(expected, dtype=F64))


def test_focal_with_gamma_one_is_linear() -> None:
    u = torch.linspace(0, 1, 11, dtype=F64)
    torch.testing.assert_close(seed_scale(u, 0.7, "focal", 1.0), seed_scale(u, 0.7, "linear", 2.0))


@pytest.mark.parametrize("scaling", ["linear", "exponential", "focal"])
def test_seed_grpo_scales_each_groups_grpo_advantage_by_f_of_its_normalised_entropy(scaling: str) -> None:
    # group 0: one answer (SE = 0); group 1: clusters 2, 1, 1 (u = 0.75); group 2: all differ (u = 1)
    rollout = rollout_of([7, 7, 7, 7, 1, 1, 2, 3, 4, 5, 6, 8], [0] * 4 + [1] * 4 + [2] * 4,
                         [1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0])
    config = AdvantageConfig(adv_estimator="seed_grpo", seed_alpha=0.9, seed_scaling=scaling, seed_gamma=3.0)
    grpo = compute_advantages(rollout, AdvantageConfig(adv_estimator="grpo"))
    scale = seed_scale(torch.tensor([0.0, 0.75, 1.0], dtype=F64), 0.9, scaling, 3.0)
    expected = grpo * scale.repeat_interleave(4).unsqueeze(-1)
    torch.testing.assert_close(compute_advantages(rollout, config), expected, rtol=1e-12, atol=0)
    assert torch.equal(compute_advantages(rollout, config)[:4], grpo[:4])  # a certain group keeps GRPO's signal


def test_seed_grpo_with_alpha_zero_is_grpo_and_a_maximally_uncertain_group_gets_no_update() -> None:
    rollout = rollout_of([0, 1, 2, 3, 5, 5, 5, 6], [0] * 4 + [1] * 4, [1, 0, 0, 0, 1, 1, 0, 1])
    grpo = compute_advantages(rollout, AdvantageConfig(adv_estimator="grpo", norm_adv_by_std_in_grpo=False))
    plain = compute_advantages(rollout, AdvantageConfig(adv_estimator="seed_grpo", seed_alpha=0.0,
                                                        norm_adv_by_std_in_grpo=False))
    assert torch.equal(plain, grpo)
    full = compute_advantages(rollout, AdvantageConfig(adv_estimator="seed_grpo", seed_alpha=1.0))
    assert bool((full[:4] == 0).all()) and bool((full[4:] != 0).all())


def test_a_group_of_one_keeps_its_advantage() -> None:
    rollout = rollout_of([3, 4, 4], [0, 1, 1], [1, 1, 0])
    seed = compute_advantages(rollout, AdvantageConfig(adv_estimator="seed_grpo"))
    torch.testing.assert_close(seed[0], compute_advantages(rollout, AdvantageConfig(adv_estimator="grpo"))[0])


def test_seed_grpo_refuses_weighted_rollouts_and_missing_answers() -> None:
    weighted = rollout_of([0, 1], [0, 0], [1, 0], weights=torch.ones(2, dtype=F64))
    with pytest.raises(ValueError, match="sampled"):
        compute_advantages(weighted, AdvantageConfig(adv_estimator="seed_grpo"))
    unanswered = Rollout(tokens=torch.zeros(2, 1, dtype=torch.long), mask=torch.ones(2, 1), rewards=torch.ones(2),
                         group=torch.zeros(2, dtype=torch.long), old_log_probs=torch.zeros(2, 1))
    with pytest.raises(ValueError, match="Rollout.answer"):
        compute_advantages(unanswered, AdvantageConfig(adv_estimator="seed_grpo"))


@pytest.mark.parametrize(("options", "field"), [
    (dict(seed_scaling="cubic"), "seed_scaling"),
    (dict(seed_alpha=1.5), "seed_alpha"),  # linear: f would turn negative
    (dict(seed_alpha=1.5, seed_scaling="focal"), "seed_alpha"),
    (dict(seed_alpha=-0.1, seed_scaling="exponential"), "seed_alpha"),
    (dict(seed_alpha=math.inf, seed_scaling="exponential"), "seed_alpha"),
    (dict(seed_alpha=math.nan), "seed_alpha"),
    (dict(seed_gamma=0.0), "seed_gamma"),
    (dict(seed_gamma=math.nan), "seed_gamma"),
])
def test_bad_seed_settings_are_refused_naming_the_field(options: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        AdvantageConfig(adv_estimator="seed_grpo", **options)


def test_exponential_takes_alpha_above_one() -> None:
    assert AdvantageConfig(adv_estimator="seed_grpo", seed_scaling="exponential", seed_alpha=3.0).seed_alpha == 3.0


# ----------------------------------------------------------------------------- answers of the backends


def test_answer_ids_are_stable_non_negative_and_none_is_no_answer() -> None:
    assert answer_id(None) == NO_ANSWER == -1
    assert answer_id("19") == answer_id("19") >= 0
    assert len({answer_id(text) for text in ("19", "91", "1,9", "19 ", "")}) == 5
    digest = hashlib.blake2b(b"19", digest_size=8).digest()  # the same in every process (no salted hash)
    assert answer_id("19") == int.from_bytes(digest, "little") & (2**63 - 1)


def test_verifiers_give_one_answer_to_responses_that_mean_the_same() -> None:
    countdown = Task("countdown", 1, 3)
    problem = countdown.sample(random.Random(0))
    assert countdown.verify(problem, "3*7+4").answer == countdown.verify(problem, "4+(7*3)").answer == "25:3,4,7"
    assert countdown.verify(problem, "3+7+4").answer == "14:3,4,7"
    assert countdown.verify(problem, "+").answer is None
    addition = Task("addition", 2, 2)
    problem = addition.sample(random.Random(1))
    assert addition.verify(problem, "19").answer == "19" and addition.verify(problem, "019").answer is None
    assert addition.verify(problem, "19") == addition.verify(problem, "18")  # the answer is not in the equality


@pytest.mark.parametrize("seq_len", [1, 2])
def test_the_bandits_answer_is_its_arm_or_its_response_index(seq_len: int) -> None:
    backend = SoftmaxBanditBackend(BanditConfig(num_prompts=3, num_arms=5, num_correct=2, group_size=4,
                                                seq_len=seq_len, init_entropy=1.0))
    rollout = backend.rollout()
    expected = rollout.tokens[:, 0] if seq_len == 1 else rollout.tokens[:, 0] * 5 + rollout.tokens[:, 1]
    assert torch.equal(rollout.answer, expected)
