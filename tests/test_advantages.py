"""Advantage estimators against hand-worked numbers, closed forms and a plain-loop reference.

The reference functions below follow verl's loop implementations in
``verl/trainer/ppo/core_algos.py`` (one Python loop over rows and groups, whole-batch whitening)
and are applied to one run at a time.
"""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
import torch

from entropic.advantages import ADV_ESTIMATORS, AdvantageConfig, compute_advantages
from entropic.protocol import Rollout

F64 = torch.float64
GROUP_ESTIMATORS = ("grpo", "rloo", "opo", "reinforce_plus_plus_baseline", "gpg")
SAMPLED_ONLY = ("rloo", "rloo_vectorized", "opo", "reinforce_plus_plus", "reinforce_plus_plus_baseline", "gpg")


def make_rollout(rewards: torch.Tensor, group: list[int] | torch.Tensor, mask: torch.Tensor | None = None,
                 run: torch.Tensor | None = None, num_runs: int = 1,
                 weights: torch.Tensor | None = None) -> Rollout:
    """A rollout with the given rewards and groups; ``mask`` defaults to all-valid (T = 1 for [B] rewards).

    Row b answers ``b % 3`` (the answer ids SEED-GRPO clusters by); the critic's values (GAE's) are
    ``0.1 * ((b + t) % 5)``.
    """
    if mask is None:
        mask = torch.ones(rewards.shape[0], rewards.shape[1] if rewards.dim() == 2 else 1, dtype=rewards.dtype)
    batch, length = mask.shape
    values = (0.1 * ((torch.arange(batch).unsqueeze(-1) + torch.arange(length)) % 5)).to(mask.dtype)
    return Rollout(tokens=torch.zeros(batch, length, dtype=torch.long), mask=mask, rewards=rewards,
                   group=torch.as_tensor(group, dtype=torch.long), old_log_probs=torch.zeros(batch, length),
                   run=run, num_runs=num_runs, weights=weights, answer=torch.arange(batch) % 3, values=values)


def advantages(rollout: Rollout, estimator: str = "grpo", **options: float | bool) -> torch.Tensor:
    return compute_advantages(rollout, AdvantageConfig(adv_estimator=estimator, **options))


def random_rollout(batch_size: int, seq_len: int, num_groups: int, seed: int, binary: bool,
                   dtype: torch.dtype = F64) -> Rollout:
    """Random groups (sparse ids, some singletons), lengths in [1, T] with one empty row, random rewards."""
    gen = torch.Generator().manual_seed(seed)
    group = 7 * torch.randint(num_groups, (batch_size,), generator=gen) + 3
    lengths = torch.randint(1, seq_len + 1, (batch_size,), generator=gen)
    lengths[0] = 0
    mask = (torch.arange(seq_len) < lengths.unsqueeze(-1)).to(dtype)
    if binary:
        rewards = torch.randint(0, 2, (batch_size,), generator=gen).to(dtype)
    else:
        rewards = torch.randn(batch_size, generator=gen, dtype=dtype)
    return make_rollout(rewards, group, mask)


# ----------------------------------------------------------------------------- loop reference (verl)


def _rows_by_group(index: list[int]) -> dict[int, list[int]]:
    rows: dict[int, list[int]] = defaultdict(list)
    for b, g in enumerate(index):
        rows[g].append(b)
    return rows


def ref_grpo(scores: torch.Tensor, index: list[int], epsilon: float, norm: bool) -> torch.Tensor:
    out = scores.clone()
    for members in _rows_by_group(index).values():
        group = scores[members]
        if len(members) == 1:
            mean, std = scores.new_tensor(0.0), scores.new_tensor(1.0)
        else:
            mean, std = group.mean(), group.std()
        for b in members:
            out[b] = (scores[b] - mean) / (std + epsilon) if norm else scores[b] - mean
    return out


def ref_rloo(scores: torch.Tensor, index: list[int]) -> torch.Tensor:
    out = scores.clone()
    for members in _rows_by_group(index).values():
        n = len(members)
        if n > 1:
            mean = scores[members].mean()
            for b in members:
                out[b] = scores[b] * n / (n - 1) - mean * n / (n - 1)
    return out


def ref_opo(scores: torch.Tensor, lengths: torch.Tensor, index: list[int]) -> torch.Tensor:
    out = scores.clone()
    for members in _rows_by_group(index).values():
        baseline = scores.new_tensor(0.0) if len(members) == 1 else \
            (lengths[members] * scores[members]).sum() / lengths[members].sum()
        for b in members:
            out[b] = scores[b] - baseline
    return out


def ref_group_centred(scores: torch.Tensor, index: list[int]) -> torch.Tensor:
    out = scores.clone()
    for members in _rows_by_group(index).values():
        mean = scores.new_tensor(0.0) if len(members) == 1 else scores[members].mean()
        for b in members:
            out[b] = scores[b] - mean
    return out


def ref_gpg(scores: torch.Tensor, index: list[int]) -> torch.Tensor:
    alpha = scores.shape[0] / max(int(torch.count_nonzero(scores)), 1)
    return alpha * ref_group_centred(scores, index)


def ref_masked_whiten(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mean = (values * mask).sum() / (mask.sum() + 1e-8)
    variance = ((values - mean) ** 2 * mask).sum() / (mask.sum() + 1e-8)
    variance = variance * mask.sum() / (mask.sum() - 1)
    return (values - mean) * torch.rsqrt(variance + 1e-8)


def ref_reinforce_plus_plus(rewards: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    returns = torch.zeros_like(rewards)
    running = 0
    for t in reversed(range(rewards.shape[1])):
        running = rewards[:, t] + gamma * running
        returns[:, t] = running
        running = running * mask[:, t]
    return ref_masked_whiten(returns, mask) * mask


def reference(rollout: Rollout, estimator: str, gamma: float = 1.0, norm: bool = True) -> torch.Tensor:
    scores, mask, index = rollout.sequence_rewards(), rollout.mask, rollout.group.tolist()
    if estimator == "reinforce_plus_plus":
        return ref_reinforce_plus_plus(rollout.token_rewards(), mask, gamma)
    if estimator == "reinforce_plus_plus_baseline":
        return ref_masked_whiten(ref_group_centred(scores, index).unsqueeze(-1) * mask, mask) * mask
    sequence = {"grpo": lambda: ref_grpo(scores, index, 1e-6, norm), "rloo": lambda: ref_rloo(scores, index),
                "opo": lambda: ref_opo(scores, rollout.lengths(), index), "gpg": lambda: ref_gpg(scores, index)}
    return sequence[estimator]().unsqueeze(-1) * mask


# ----------------------------------------------------------------------------- reference parity


PARITY_CASES = [(5, 3, 4, 0), (64, 16, 8, 1), (128, 32, 16, 2), (512, 8, 200, 3)]


@pytest.mark.parametrize("batch_size,seq_len,num_groups,seed", PARITY_CASES)
@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("estimator", ["grpo", "rloo", "opo", "reinforce_plus_plus_baseline", "gpg"])
def test_matches_loop_reference(batch_size: int, seq_len: int, num_groups: int, seed: int, binary: bool,
                                estimator: str) -> None:
    rollout = random_rollout(batch_size, seq_len, num_groups, seed, binary)
    torch.testing.assert_close(advantages(rollout, estimator), reference(rollout, estimator),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("batch_size,seq_len,num_groups,seed", PARITY_CASES)
def test_dr_grpo_matches_loop_reference(batch_size: int, seq_len: int, num_groups: int, seed: int) -> None:
    rollout = random_rollout(batch_size, seq_len, num_groups, seed, binary=False)
    torch.testing.assert_close(advantages(rollout, norm_adv_by_std_in_grpo=False),
                               reference(rollout, "grpo", norm=False), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch_size,seq_len,num_groups,seed", PARITY_CASES)
@pytest.mark.parametrize("gamma", [1.0, 0.9, 0.0])
def test_reinforce_plus_plus_matches_loop_reference(batch_size: int, seq_len: int, num_groups: int, seed: int,
                                                    gamma: float) -> None:
    rollout = random_rollout(batch_size, seq_len, num_groups, seed, binary=False)
    gen = torch.Generator().manual_seed(seed)
    token_rewards = torch.randn(batch_size, seq_len, generator=gen, dtype=F64)
    rollout = make_rollout(token_rewards, rollout.group, rollout.mask)
    torch.testing.assert_close(advantages(rollout, "reinforce_plus_plus", gamma=gamma),
                               reference(rollout, "reinforce_plus_plus", gamma=gamma), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("alias,name", [("grpo_vectorized", "grpo"), ("rloo_vectorized", "rloo")])
def test_vectorized_names_are_aliases(alias: str, name: str) -> None:
    assert ADV_ESTIMATORS.get(alias) is ADV_ESTIMATORS.get(name)


# ----------------------------------------------------------------------------- hand-worked numbers


def test_grpo_hand_worked() -> None:
    # mu = 0.5, unbiased sigma = sqrt((4 * 0.25) / 3) = sqrt(1/3); a = +-0.5 / (sqrt(1/3) + 1e-6)
    rollout = make_rollout(torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=F64), [0, 0, 0, 0])
    expected = torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=F64) * 0.8660239037870368
    torch.testing.assert_close(advantages(rollout)[:, 0], expected, rtol=1e-14, atol=0)
    torch.testing.assert_close(advantages(rollout, norm_adv_by_std_in_grpo=False)[:, 0],
                               torch.tensor([0.5, -0.5, -0.5, 0.5], dtype=F64), rtol=0, atol=0)


@pytest.mark.parametrize("size", [2, 4, 8, 16])
def test_grpo_binary_closed_form(size: int) -> None:
    for correct in range(size + 1):
        rewards = torch.tensor([1.0] * correct + [0.0] * (size - correct), dtype=F64)
        got = advantages(make_rollout(rewards, [0] * size))[:, 0]
        got_dr = advantages(make_rollout(rewards, [0] * size), norm_adv_by_std_in_grpo=False)[:, 0]
        p = correct / size
        sigma = math.sqrt(correct * (size - correct) / (size * (size - 1)))
        expected_dr = torch.where(rewards > 0, rewards.new_tensor(1 - p), rewards.new_tensor(-p))
        torch.testing.assert_close(got, expected_dr / (sigma + 1e-6), rtol=1e-12, atol=0)
        torch.testing.assert_close(got_dr, expected_dr, rtol=1e-12, atol=0)


def test_rloo_hand_worked() -> None:
    # a = s - mean of the other three: 1 - 1/3 = 2/3, 0 - 2/3 = -2/3
    rollout = make_rollout(torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=F64), [0, 0, 0, 0])
    expected = torch.tensor([2 / 3, -2 / 3, -2 / 3, 2 / 3], dtype=F64)
    torch.testing.assert_close(advantages(rollout, "rloo")[:, 0], expected, rtol=1e-14, atol=0)


def test_opo_length_weighted_baseline() -> None:
    # b = (1 * 1 + 3 * 0) / (1 + 3) = 0.25
    mask = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]], dtype=F64)
    rollout = make_rollout(torch.tensor([1.0, 0.0], dtype=F64), [0, 0], mask)
    expected = torch.tensor([[0.75, 0.0, 0.0], [-0.25, -0.25, -0.25]], dtype=F64)
    torch.testing.assert_close(advantages(rollout, "opo"), expected, rtol=0, atol=1e-15)


def test_gpg_alpha_is_per_run() -> None:
    # run 0: alpha = 4 / 1, mu = 0.25; run 1: alpha = 4 / 2, mu = 0.5 (a batch-wide alpha would be 8 / 3)
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0], dtype=F64)
    run = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    rollout = make_rollout(rewards, [0, 0, 0, 0, 1, 1, 1, 1], run=run, num_runs=2)
    expected = torch.tensor([3.0, -1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0], dtype=F64)
    torch.testing.assert_close(advantages(rollout, "gpg")[:, 0], expected, rtol=0, atol=1e-15)


def test_reinforce_plus_plus_hand_worked() -> None:
    # gamma = 0.5. Row 0: returns [1 + 0.5 * 2 * 0.5, 0.5 * 2, 2] = [1.5, 1, 2].
    # Row 1: the masked middle token (an observation span) is skipped: its reward 5 is dropped and
    # the return 2 is carried across it, so token 0 sees 1 + 0.5 * 2 = 2 (verl 0.9.1): [2, -, 2].
    # Valid returns [1.5, 1, 2, 2, 2]: mean 1.7, unbiased var 0.8 / 4 = 0.2, A = (G - 1.7) / sqrt(0.2).
    rewards = torch.tensor([[1.0, 0.0, 2.0], [1.0, 5.0, 2.0]], dtype=F64)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0]], dtype=F64)
    got = advantages(make_rollout(rewards, [0, 0], mask), "reinforce_plus_plus", gamma=0.5)
    expected = torch.tensor([[-0.2, -0.7, 0.3], [0.3, 0.0, 0.3]], dtype=F64) / math.sqrt(0.2) * mask
    torch.testing.assert_close(got, expected, rtol=1e-7, atol=1e-7)


def test_reinforce_plus_plus_carries_returns_across_observation_spans() -> None:
    # A multi-turn response: turn 1 (tokens 0-1), a tool observation (2-3, masked), turn 2 (4-5)
    # with the outcome reward on its last token. With gamma = 1 every model token gets the outcome.
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]], dtype=F64)
    rewards = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]], dtype=F64)
    returns = reinforce_returns(rewards, mask, gamma=1.0)
    torch.testing.assert_close(returns, torch.tensor([[1.0, 1.0, 0.0, 0.0, 1.0, 1.0], [0.0] * 6], dtype=F64))
    got = advantages(make_rollout(rewards, [0, 1], mask), "reinforce_plus_plus", gamma=0.9)
    torch.testing.assert_close(got, verl_reinforce_plus_plus(rewards, mask, gamma=0.9), rtol=1e-12, atol=1e-12)
    assert (got[0, :2] > 0).all()  # the first turn is credited with the second turn's reward


def reinforce_returns(rewards: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """verl 0.9.1 ``compute_reinforce_plus_plus_outcome_advantage``'s return loop, literally."""
    returns = torch.zeros_like(rewards)
    running_return = 0
    for t in reversed(range(rewards.shape[1])):
        new_running_return = rewards[:, t] + gamma * running_return
        returns[:, t] = new_running_return * mask[:, t]
        running_return = new_running_return * mask[:, t] + running_return * (1 - mask[:, t])
    return returns


def verl_reinforce_plus_plus(rewards: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """verl's REINFORCE++: the returns above, ``masked_whiten`` (unbiased var, ``rsqrt(var + 1e-8)``), ``* mask``."""
    returns = reinforce_returns(rewards, mask, gamma)
    mean = (returns * mask).sum() / (mask.sum() + 1e-8)
    var = ((returns - mean) ** 2 * mask).sum() / (mask.sum() + 1e-8) * mask.sum() / (mask.sum() - 1)
    return (returns - mean) * torch.rsqrt(var + 1e-8) * mask


# ----------------------------------------------------------------------------- edge cases


def test_singleton_group_keeps_the_raw_reward() -> None:
    rollout = make_rollout(torch.tensor([0.7, 1.0, 0.0], dtype=F64), [9, 4, 4])
    assert advantages(rollout)[0, 0].item() == pytest.approx(0.7 / (1 + 1e-6), rel=1e-15)
    for estimator in ("rloo", "opo"):
        assert advantages(rollout, estimator)[0, 0].item() == pytest.approx(0.7, rel=1e-15)
    assert advantages(rollout, norm_adv_by_std_in_grpo=False)[0, 0].item() == pytest.approx(0.7, rel=1e-15)
    assert advantages(rollout, "gpg")[0, 0].item() == pytest.approx(3 / 2 * 0.7, rel=1e-15)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("estimator", GROUP_ESTIMATORS)
def test_all_equal_group_gives_exactly_zero(estimator: str, dtype: torch.dtype) -> None:
    # 0.1 is not exact in binary: a naive mean of seven copies differs from 0.1 in the last bit.
    rewards = torch.tensor([0.1] * 7 + [0.3, 0.3], dtype=dtype)
    got = advantages(make_rollout(rewards, [2] * 7 + [5, 5]), estimator)
    assert torch.equal(got, torch.zeros_like(got))


@pytest.mark.parametrize("estimator", sorted(ADV_ESTIMATORS))
def test_empty_mask_rows_give_zero_and_no_nan(estimator: str) -> None:
    mask = torch.tensor([[1.0, 1.0], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    run = torch.tensor([0, 0, 0, 1, 1])  # run 1 has no valid token at all
    rollout = make_rollout(torch.tensor([1.0, 0.0, 0.5, 1.0, 0.0]), [0, 0, 0, 1, 1], mask, run=run, num_runs=2)
    got = advantages(rollout, estimator)
    assert torch.isfinite(got).all()
    assert torch.equal(got * (1 - mask), torch.zeros_like(got))


def test_whitening_a_run_with_one_valid_token_only_centres() -> None:
    mask = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    got = advantages(make_rollout(torch.tensor([3.0, 1.0]), [0, 0], mask), "reinforce_plus_plus")
    assert torch.equal(got, torch.zeros_like(got))


@pytest.mark.parametrize("estimator", GROUP_ESTIMATORS)
def test_token_level_rewards_are_summed_over_the_whole_row(estimator: str) -> None:
    # verl's token_level_rewards.sum(-1): a reward written on a masked slot still counts.
    gen = torch.Generator().manual_seed(5)
    token_rewards = torch.randn(6, 4, generator=gen, dtype=F64)
    mask = (torch.arange(4) < torch.tensor([[4], [2], [3], [1], [4], [2]])).to(F64)
    group = [0, 0, 0, 1, 1, 1]
    outcome = token_rewards.sum(-1)
    torch.testing.assert_close(advantages(make_rollout(token_rewards, group, mask), estimator),
                               advantages(make_rollout(outcome, group, mask), estimator), rtol=1e-12, atol=1e-12)


def test_an_empty_response_scored_at_position_minus_one_counts_in_its_group() -> None:
    # verl's reward managers write a score at index length - 1: -1, a masked slot, for an empty response.
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=F64)
    rewards = torch.zeros(3, 3, dtype=F64)
    rewards[0, 2], rewards[1, 0], rewards[2, -1] = 1.0, 0.0, 1.0
    got = advantages(make_rollout(rewards, [0, 0, 0], mask), norm_adv_by_std_in_grpo=False)
    torch.testing.assert_close(got[:, 0], torch.tensor([1 / 3, -2 / 3, 0.0], dtype=F64))  # mean 2/3, not 1/3


def test_output_is_zero_on_padding_and_has_shape_b_t() -> None:
    rollout = random_rollout(16, 5, 4, seed=7, binary=True)
    for estimator in ADV_ESTIMATORS:
        got = advantages(rollout, estimator)
        assert got.shape == (16, 5)
        assert torch.equal(got * (1 - rollout.mask), torch.zeros_like(got))


# ----------------------------------------------------------------------------- independent runs


def concatenate(rollouts: list[Rollout], seed: int) -> tuple[Rollout, torch.Tensor]:
    """Interleave the rows of independent runs (each run keeps its row order); return the batch and run ids."""
    sizes = [r.batch_size for r in rollouts]
    gen = torch.Generator().manual_seed(seed)
    run = torch.cat([torch.full((n,), r) for r, n in enumerate(sizes)])[torch.randperm(sum(sizes), generator=gen)]
    offsets = torch.tensor([0, *sizes[:-1]]).cumsum(0)
    order = torch.empty_like(run)
    for r in range(len(rollouts)):
        order[run == r] = offsets[r] + torch.arange(sizes[r])
    fields = ("tokens", "mask", "rewards", "group", "old_log_probs", "answer", "values")
    stacked = {name: torch.cat([getattr(r, name) for r in rollouts])[order] for name in fields}
    weights = None if rollouts[0].weights is None else torch.cat([r.weights for r in rollouts])[order]
    return Rollout(**stacked, run=run, num_runs=len(rollouts), weights=weights), run


def independent_runs(weighted: bool) -> list[Rollout]:
    runs = []
    for r, (batch_size, num_groups) in enumerate([(12, 3), (7, 5), (20, 4)]):
        rollout = random_rollout(batch_size, 6, num_groups, seed=10 + r, binary=r != 1, dtype=torch.float32)
        weights = torch.rand(batch_size, generator=torch.Generator().manual_seed(r)) if weighted else None
        runs.append(make_rollout(rollout.rewards, rollout.group + 1000 * r, rollout.mask, weights=weights))
    return runs


@pytest.mark.parametrize("estimator", sorted(ADV_ESTIMATORS))
def test_a_run_gets_the_same_advantages_alone_or_batched(estimator: str) -> None:
    runs = independent_runs(weighted=False)
    batch, run = concatenate(runs, seed=0)
    batched = advantages(batch, estimator)
    for r, alone in enumerate(runs):
        assert torch.equal(batched[run == r], advantages(alone, estimator))


def test_a_weighted_run_gets_the_same_grpo_advantages_alone_or_batched() -> None:
    runs = independent_runs(weighted=True)
    batch, run = concatenate(runs, seed=1)
    batched = advantages(batch)
    for r, alone in enumerate(runs):
        assert torch.equal(batched[run == r], advantages(alone))


def test_group_ids_shared_by_two_runs_are_rejected() -> None:
    rollout = make_rollout(torch.tensor([1.0, 0.0, 1.0]), [0, 0, 0], run=torch.tensor([0, 0, 1]), num_runs=2)
    with pytest.raises(ValueError, match="Rollout.group"):
        advantages(rollout)


# ----------------------------------------------------------------------------- weighted (exact expectation)


def test_weighted_grpo_is_the_expectation() -> None:
    # arms s = [1, 0, 0.5] with pi = [0.5, 0.25, 0.25], G = 4, w = G * pi = [2, 1, 1]:
    # mu = 0.625, sigma^2 = 0.5 * 0.375^2 + 0.25 * 0.625^2 + 0.25 * 0.125^2 = 0.171875
    rewards = torch.tensor([1.0, 0.0, 0.5], dtype=F64)
    rollout = make_rollout(rewards, [0, 0, 0], weights=torch.tensor([2.0, 1.0, 1.0], dtype=F64))
    sigma = math.sqrt(0.171875)
    expected = torch.tensor([0.375, -0.625, -0.125], dtype=F64) / (sigma + 1e-6)
    torch.testing.assert_close(advantages(rollout)[:, 0], expected, rtol=1e-14, atol=0)
    torch.testing.assert_close(advantages(rollout, norm_adv_by_std_in_grpo=False)[:, 0],
                               torch.tensor([0.375, -0.625, -0.125], dtype=F64), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_weighted_binary_closed_form(p: float) -> None:
    # Bernoulli(p) rewards: mu = p, sigma = sqrt(p (1 - p)), a_correct = sqrt((1 - p) / p)
    group_size = 8
    rollout = make_rollout(torch.tensor([1.0, 0.0], dtype=F64), [0, 0],
                           weights=torch.tensor([group_size * p, group_size * (1 - p)], dtype=F64))
    got = advantages(rollout, epsilon=1e-300)[:, 0]
    expected = torch.tensor([math.sqrt((1 - p) / p), -math.sqrt(p / (1 - p))], dtype=F64)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=0)


def test_weighted_grpo_is_the_limit_of_many_samples() -> None:
    # pi = [0.5, 0.3, 0.2]; N = 1000 samples in exact proportion: the sampled group mean is the weighted
    # mean, and the sampled (Bessel) std is sqrt(N / (N - 1)) times the weighted population std.
    rewards, pi, samples = torch.tensor([1.0, 0.0, 0.25], dtype=F64), torch.tensor([0.5, 0.3, 0.2], dtype=F64), 1000
    weighted = make_rollout(rewards, [0, 0, 0], weights=len(rewards) * pi)
    counts = (pi * samples).round().long()
    expanded = make_rollout(rewards.repeat_interleave(counts), [0] * samples)
    arm_rows = counts.cumsum(0) - 1  # one representative row per arm
    torch.testing.assert_close(advantages(weighted, norm_adv_by_std_in_grpo=False)[:, 0],
                               advantages(expanded, norm_adv_by_std_in_grpo=False)[arm_rows, 0], rtol=1e-12, atol=0)
    bessel = math.sqrt(samples / (samples - 1))
    torch.testing.assert_close(advantages(weighted, epsilon=1e-300)[:, 0],
                               advantages(expanded, epsilon=1e-300)[arm_rows, 0] * bessel, rtol=1e-12, atol=0)


def test_weighted_grpo_advantages_have_weighted_mean_zero_and_unit_variance() -> None:
    gen = torch.Generator().manual_seed(3)
    rewards = torch.randn(12, generator=gen, dtype=F64)
    group = torch.arange(12) // 4
    pi = torch.softmax(torch.randn(3, 4, generator=gen, dtype=F64), -1).flatten()
    got = advantages(make_rollout(rewards, group, weights=4 * pi), epsilon=1e-300)[:, 0].view(3, 4)
    pi = pi.view(3, 4)
    torch.testing.assert_close((pi * got).sum(-1), torch.zeros(3, dtype=F64), rtol=0, atol=1e-12)
    torch.testing.assert_close((pi * got**2).sum(-1), torch.ones(3, dtype=F64), rtol=1e-12, atol=0)


def test_weighted_constant_group_and_single_arm_give_exactly_zero() -> None:
    rollout = make_rollout(torch.tensor([0.1] * 7 + [0.3], dtype=F64), [0] * 7 + [1],
                           weights=torch.tensor([1.9, 1.4, 0.9, 1.8, 1.3, 1.6, 0.4, 1.0], dtype=F64))
    got = advantages(rollout)
    assert torch.equal(got, torch.zeros_like(got))


@pytest.mark.parametrize("estimator", SAMPLED_ONLY)
def test_weighted_rollouts_are_rejected_by_sampled_only_estimators(estimator: str) -> None:
    rollout = make_rollout(torch.tensor([1.0, 0.0]), [0, 0], weights=torch.tensor([1.5, 0.5]))
    with pytest.raises(ValueError, match=f"advantage.adv_estimator='{estimator}'.*weighted"):
        advantages(rollout, estimator)


# ----------------------------------------------------------------------------- configuration


def test_registry_holds_verl_names() -> None:
    assert ADV_ESTIMATORS.names() == sorted(
        ["grpo", "grpo_vectorized", "rloo", "rloo_vectorized", "opo", "reinforce_plus_plus",
         "reinforce_plus_plus_baseline", "gpg", "reinforce_pm1", "unlikeliness", "seed_grpo", "gae"])


def test_defaults() -> None:
    config = AdvantageConfig()
    assert (config.adv_estimator, config.norm_adv_by_std_in_grpo, config.gamma, config.epsilon,
            config.beta_rank) == ("grpo", True, 1.0, 1e-6, 0.5)


@pytest.mark.parametrize("options,field", [
    ({"adv_estimator": "ppo"}, r"advantage\.adv_estimator='ppo'.*allowed values.*'grpo'"),
    ({"lam": 1.5}, r"advantage\.lam must lie in \[0, 1\]"),
    ({"lam_critic": -0.1}, r"advantage\.lam_critic must lie in \[0, 1\] or be null"),
    ({"lam_alpha": 0.0}, r"advantage\.lam_alpha must be a finite number > 0 or null"),
    ({"gamma": 1.5}, r"advantage\.gamma"),
    ({"gamma": -0.1}, r"advantage\.gamma"),
    ({"epsilon": 0.0}, r"advantage\.epsilon"),
    ({"beta_rank": 1.5}, r"advantage\.beta_rank must lie in \[0, 1\]"),
    ({"beta_rank": -0.1}, r"advantage\.beta_rank"),
])
def test_invalid_config_names_the_field(options: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        AdvantageConfig(**options)


def test_compute_advantages_dispatches_to_the_registered_estimator() -> None:
    rollout = random_rollout(10, 3, 3, seed=4, binary=False)
    for name in ADV_ESTIMATORS:
        config = AdvantageConfig(adv_estimator=name)
        assert torch.equal(compute_advantages(rollout, config), ADV_ESTIMATORS.get(name)(rollout, config))


def test_reinforce_pm1_gives_plus_one_to_correct_and_minus_one_to_wrong() -> None:
    rollout = Rollout(
        tokens=torch.zeros(4, 2, dtype=torch.long), mask=torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]),
        rewards=torch.tensor([1.0, 0.0, 0.0, 1.0]), group=torch.tensor([0, 0, 1, 1]),
        old_log_probs=torch.zeros(4, 2))
    expected = torch.tensor([[1.0, 1.0], [-1.0, 0.0], [-1.0, -1.0], [0.0, 0.0]])
    assert torch.equal(compute_advantages(rollout, AdvantageConfig(adv_estimator="reinforce_pm1")), expected)


def test_a_group_id_shared_by_two_runs_is_refused_with_the_ids() -> None:
    rollout = make_rollout(torch.tensor([1.0, 0.0, 1.0, 0.0]), [3, 3, 5, 5], run=torch.tensor([0, 1, 1, 1]),
                           num_runs=2)
    with pytest.raises(ValueError, match=r"ids \[3\] hold rows of several runs"):
        advantages(rollout)
