"""The R = -a exp(H) + b fit recovers its coefficients; the t intervals match textbook values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from entropic.laws.fit import fit_entropy_reward
from entropic.laws.stats import linear_fit, mean_ci, pearson, t_quantile


@pytest.mark.parametrize("df, quantile", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (30, 2.0423)])
def test_t_quantile_matches_tables(df: int, quantile: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(quantile, abs=1e-4)
    assert t_quantile(0.025, df) == pytest.approx(-quantile, abs=1e-4)


def test_mean_ci_of_five_values() -> None:
    estimate = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.7764451 * math.sqrt(2.5) / math.sqrt(5)
    assert (estimate.mean, estimate.low, estimate.high, estimate.n) == pytest.approx((3.0, 3 - half, 3 + half, 5))


def test_mean_ci_edge_cases() -> None:
    assert math.isnan(mean_ci([]).mean) and mean_ci([]).n == 0
    single = mean_ci([2.0, float("nan")])
    assert single.n == 1 and single.low == -math.inf and single.high == math.inf


def test_noise_free_law_is_recovered_exactly() -> None:
    entropy = np.linspace(0.05, 2.5, 40)
    fit = fit_entropy_reward(entropy, -0.07 * np.exp(entropy) + 1.02)
    assert (fit.a, fit.b, fit.ceiling, fit.r2) == pytest.approx((0.07, 1.02, 0.95, 1.0), abs=1e-10)
    assert fit.predict(0.0) == pytest.approx(fit.ceiling)


def test_noisy_law_is_recovered_within_its_intervals() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(200):
        entropy = rng.uniform(0.0, 2.5, 60)
        reward = -0.1 * np.exp(entropy) + 1.0 + rng.normal(0.0, 0.02, 60)
        fit = fit_entropy_reward(entropy, reward)
        covered += fit.a_ci[0] <= 0.1 <= fit.a_ci[1] and fit.b_ci[0] <= 1.0 <= fit.b_ci[1]
        assert fit.ceiling_ci[0] < fit.ceiling < fit.ceiling_ci[1]
    assert covered / 200 > 0.85  # two 95% intervals hold together in about 90% of the draws


def test_ceiling_interval_uses_the_covariance_of_a_and_b() -> None:
    rng = np.random.default_rng(1)
    ceilings = []
    for _ in range(400):
        entropy = rng.uniform(0.5, 2.5, 30)  # no point near H = 0: the ceiling is an extrapolation
        ceilings.append(fit_entropy_reward(entropy, -0.1 * np.exp(entropy) + 1.0 + rng.normal(0, 0.02, 30)))
    spread = np.std([f.ceiling for f in ceilings])
    width = np.mean([(f.ceiling_ci[1] - f.ceiling_ci[0]) / (2 * 2.048) for f in ceilings])  # implied std
    assert width == pytest.approx(spread, rel=0.15)


def test_linear_fit_and_pearson_reject_degenerate_input() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        linear_fit([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="constant"):
        linear_fit([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    assert math.isnan(pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert pearson([1.0, 2.0, 3.0, float("nan")], [2.0, 4.0, 6.0, 1.0]) == pytest.approx(1.0)
