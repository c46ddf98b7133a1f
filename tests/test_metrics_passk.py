"""pass@k against enumeration of every k-subset, exact binomial ratios and its large-n limit."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest
import torch

from entropic.metrics import pass_at_k, pass_at_k_from_probability


def _enumerated_pass_at_k(n: int, c: int, k: int) -> float:
    """Share of the k-subsets of n samples (the first c correct) that hold a correct sample."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(min(subset) < c for subset in subsets) / len(subsets)


def test_matches_enumeration_of_all_subsets() -> None:
    triples = [(n, c, k) for n in range(1, 8) for c in range(n + 1) for k in range(1, n + 1)]
    n, c, k = (torch.tensor(column) for column in zip(*triples, strict=True))
    expected = torch.tensor([_enumerated_pass_at_k(*triple) for triple in triples], dtype=torch.float64)
    torch.testing.assert_close(pass_at_k(n, c, k), expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize(("n", "c", "k"), [(300, 17, 40), (1024, 1, 1), (1024, 3, 256), (5000, 2500, 100)])
def test_matches_exact_binomial_ratio_for_large_n(n: int, c: int, k: int) -> None:
    expected = float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))
    assert pass_at_k(n, c, k).item() == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_edge_cases() -> None:
    no_correct = pass_at_k(10, 0, 3).item()
    assert no_correct == 0.0 and math.copysign(1.0, no_correct) == 1.0  # +0.0, not -0.0
    assert pass_at_k(10, 8, 3).item() == 1.0  # n - c = 2 < k: every subset holds a correct sample
    assert pass_at_k(10, 1, 10).item() == 1.0
    assert pass_at_k(10, 0, 10).item() == 0.0
    assert pass_at_k(10, 4, 1).item() == pytest.approx(0.4, rel=1e-15)


def test_broadcasts_problems_against_k() -> None:
    correct = torch.tensor([0, 3, 16])[:, None]  # [3, 1]
    ks = torch.tensor([1, 4, 16])  # [3]
    result = pass_at_k(16, correct, ks)
    assert result.shape == (3, 3) and result.dtype == torch.float64
    assert (result[:, 1:] >= result[:, :-1]).all()


@pytest.mark.parametrize("p", [0.01, 0.3, 0.9])
@pytest.mark.parametrize("k", [1, 5, 50])
def test_approaches_the_independent_attempt_limit(p: float, k: int) -> None:
    n = 200_000
    estimate = pass_at_k(n, round(p * n), k)
    limit = pass_at_k_from_probability(torch.tensor(p, dtype=torch.float64), k)
    torch.testing.assert_close(estimate, limit, rtol=0, atol=1e-3)


@pytest.mark.parametrize(("n", "c", "k"), [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6), (5.5, 2, 1)])
def test_rejects_invalid_counts(n: float, c: int, k: int) -> None:
    with pytest.raises(ValueError, match="pass_at_k"):
        pass_at_k(n, c, k)


def test_from_probability_values() -> None:
    p = torch.tensor([0.0, 1e-12, 0.25, 1.0], dtype=torch.float64)
    result = pass_at_k_from_probability(p, 8)
    exact = [float(1 - (1 - Fraction(value)) ** 8) for value in p.tolist()]
    torch.testing.assert_close(result, torch.tensor(exact, dtype=torch.float64), rtol=1e-14, atol=0)
    curve = pass_at_k_from_probability(torch.tensor([[0.1], [0.5]]), torch.tensor([1, 2, 256]))
    assert curve.shape == (2, 3)
    torch.testing.assert_close(curve[:, 0], torch.tensor([0.1, 0.5]))


@pytest.mark.parametrize(("p", "k"), [(-0.1, 1), (1.1, 1), (0.5, 0)])
def test_from_probability_rejects_invalid_arguments(p: float, k: int) -> None:
    with pytest.raises(ValueError, match="pass_at_k_from_probability"):
        pass_at_k_from_probability(torch.tensor([p]), k)
