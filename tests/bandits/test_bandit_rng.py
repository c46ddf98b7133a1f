"""The counter-based RNG: SplitMix64 bit for bit, a run's draws independent of the others, inverse-CDF edge."""

from __future__ import annotations

import pytest
import torch

from entropic.sims.rng import GAMMA, random_bits, sample_categorical, stream_keys, uniform

MASK = (1 << 64) - 1


def splitmix64(seed: int, n: int) -> list[int]:
    """Reference SplitMix64 (Steele, Lea & Flood 2014) on Python integers."""
    state, out = seed & MASK, []
    for _ in range(n):
        state = (state + GAMMA) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        out.append(z ^ (z >> 31))
    return out


@pytest.mark.parametrize("key", [0, 1, 12345, -7, 2**62 + 3, -(2**63)])
def test_bits_are_splitmix64(key: int) -> None:
    bits = random_bits(torch.tensor([key]), 6)[0]
    assert [int(b) & MASK for b in bits] == splitmix64(key, 6)


def test_first_outputs_match_published_splitmix64_values() -> None:
    # SplitMix64 seeded with 1234567 (the reference test vector of xoshiro's authors)
    expected = [6457827717110365317, 3203168211198807973, 9817491932198370423]
    assert [int(b) & MASK for b in random_bits(torch.tensor([1234567]), 3)[0]] == expected


def test_run_draws_do_not_depend_on_other_runs() -> None:
    seeds = torch.arange(1000) * 7919 + 3
    batched = uniform(seeds, counter=5, stream=0, n=257)
    for r in (0, 1, 500, 999):
        alone = uniform(seeds[r:r + 1], counter=5, stream=0, n=257)
        assert torch.equal(alone[0], batched[r])


def test_counters_streams_and_seeds_give_different_numbers() -> None:
    seeds = torch.tensor([0, 1])
    base = uniform(seeds, 0, 0, 64)
    assert not torch.equal(base[0], base[1])
    assert not torch.equal(base, uniform(seeds, 1, 0, 64))
    assert not torch.equal(base, uniform(seeds, 0, 1, 64))
    assert torch.equal(stream_keys(seeds, 3, 2), stream_keys(seeds, 3, 2))


@pytest.mark.parametrize(("dtype", "bits"), [(torch.float32, 24), (torch.float64, 53)])
def test_uniforms_are_exact_fractions_in_unit_interval(dtype: torch.dtype, bits: int) -> None:
    u = uniform(torch.tensor([11, 12]), 0, 0, 200_000, dtype)
    assert u.dtype == dtype
    assert float(u.min()) >= 0.0 and float(u.max()) < 1.0
    assert torch.equal(u * 2.0**bits, torch.floor(u * 2.0**bits))
    # mean 1/2 and variance 1/12 within ~5 standard errors
    assert abs(float(u.mean()) - 0.5) < 5 * (1 / 12 / u.numel()) ** 0.5
    assert abs(float(u.var()) - 1 / 12) < 5e-3


def test_inverse_cdf_boundaries_and_last_arm_guard() -> None:
    quarters = torch.full((1, 4), 0.25)
    u = torch.tensor([[0.0, 0.2499, 0.25, 0.75, 1.0 - 2.0**-24]])
    assert sample_categorical(quarters, u).tolist() == [[0, 0, 1, 3, 3]]
    # u is scaled by the row total, so a row summing to less than 1 still reaches its last arm
    short = torch.tensor([[0.25, 0.25, 0.25, 0.25 - 2e-7]])
    assert sample_categorical(short, torch.tensor([[0.9999999]])).tolist() == [[3]]
    # an arm of probability 0 is never drawn, and u * total == total clamps to K - 1 instead of K
    assert sample_categorical(torch.tensor([[0.5, 0.0, 0.5]]), torch.tensor([[0.5 - 2.0**-24, 0.5]])).tolist() \
        == [[0, 2]]
    assert sample_categorical(quarters, torch.tensor([[1.0]])).tolist() == [[3]]


def test_float32_uniforms_are_two_24_bit_fields_of_each_splitmix64_word() -> None:
    seed, n = 77, 7
    key = int(stream_keys(torch.tensor([seed]), 3, 1)[0]) & MASK
    words = splitmix64(key, (n + 1) // 2)
    expected = [field * 2.0**-24 for word in words for field in (word >> 40, (word >> 16) & (2**24 - 1))][:n]
    assert uniform(torch.tensor([seed]), 3, 1, n)[0].tolist() == expected
    first = uniform(torch.tensor([seed]), 3, 1, n, torch.float64)[0, 0].item()
    assert first == (splitmix64(key, 1)[0] >> 11) * 2.0**-53


@pytest.mark.parametrize("arms", [1, 2, 3, 5, 8, 31, 32, 33, 64, 100])
def test_binary_search_equals_searchsorted_on_the_cdf(arms: int) -> None:
    gen = torch.Generator().manual_seed(arms)
    probs = torch.softmax(3 * torch.randn(200, arms, generator=gen), -1)
    probs[::3, ::2] = 0.0  # arms of probability 0, including the first and (odd K) the last
    probs[probs.sum(-1) == 0, -1] = 1.0
    u = torch.rand(200, 9, generator=gen)
    u[:, 0], u[:, 1] = 0.0, 1.0 - 2.0**-24
    cdf = probs.cumsum(-1)
    expected = torch.searchsorted(cdf, (u * cdf[:, -1:]).contiguous(), right=True).clamp(max=arms - 1)
    drawn = sample_categorical(probs, u)
    assert torch.equal(drawn, expected)
    assert bool((probs.gather(-1, drawn) > 0).all())
