"""Small statistics for verdicts over seeds: t confidence intervals, least-squares lines, correlation.

Seeds are few (5 to 10), so every interval is a Student-t interval on the per-seed values. The
t quantile is computed here (numeric integration of the density, then bisection) so that
:mod:`entropic` keeps to torch and numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

LEVEL = 0.95
"""Default confidence level of every interval."""


def _t_cdf(x: float, df: float) -> float:
    """``P(T <= x)`` for Student's t with ``df`` degrees of freedom (Simpson's rule on the density)."""
    if x == 0.0:
        return 0.5
    n = 4000  # even number of intervals
    grid = np.linspace(0.0, abs(x), n + 1)
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    density = np.exp(log_norm - (df + 1) / 2 * np.log1p(grid * grid / df))
    h = abs(x) / n
    area = h / 3 * (density[0] + density[-1] + 4 * density[1:-1:2].sum() + 2 * density[2:-1:2].sum())
    return 0.5 + math.copysign(float(area), x)


@lru_cache(maxsize=256)
def t_quantile(p: float, df: float) -> float:
    """Quantile ``t`` with ``P(T <= t) = p`` of Student's t (accurate to about 1e-6 for ``df >= 1``).

    Parameters
    ----------
    p : float
        Probability in ``(0, 1)``.
    df : float
        Degrees of freedom, ``> 0``.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"t_quantile: p must lie in (0, 1), got {p}")
    if not df > 0:
        raise ValueError(f"t_quantile: df must be > 0, got {df}")
    if p == 0.5:
        return 0.0
    target, sign = (p, 1.0) if p > 0.5 else (1.0 - p, -1.0)
    low, high = 0.0, 1.0
    while _t_cdf(high, df) < target:
        high *= 2.0
    for _ in range(60):
        mid = 0.5 * (low + high)
        if _t_cdf(mid, df) < target:
            low = mid
        else:
            high = mid
    return sign * 0.5 * (low + high)


@dataclass(frozen=True)
class Estimate:
    """A statistic over seeds: mean and two-sided t confidence interval.

    Attributes
    ----------
    mean : float
        Mean of the finite per-seed values (NaN when there is none).
    low, high : float
        Confidence bounds (``mean`` +- ``t_{n-1} s / sqrt(n)``); infinite with one value, NaN with none.
    n : int
        Number of finite values.
    values : tuple[float, ...]
        The per-seed values (NaN kept).
    level : float
        Confidence level.
    """

    mean: float
    low: float
    high: float
    n: int
    values: tuple[float, ...]
    level: float = LEVEL

    def to_dict(self) -> dict:
        return {"mean": _json(self.mean), "ci": [_json(self.low), _json(self.high)], "n": self.n,
                "level": self.level, "values": [_json(v) for v in self.values]}


def _json(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def mean_ci(values: np.ndarray | list[float], level: float = LEVEL) -> Estimate:
    """Mean of ``values`` (one per seed) with its t confidence interval; NaNs are ignored."""
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    finite = array[np.isfinite(array)]
    n = finite.size
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, tuple(array.tolist()), level)
    mean = float(finite.mean())
    if n == 1:
        return Estimate(mean, -math.inf, math.inf, 1, tuple(array.tolist()), level)
    half = t_quantile(0.5 + level / 2, n - 1) * float(finite.std(ddof=1)) / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n, tuple(array.tolist()), level)


@dataclass(frozen=True)
class LinearFit:
    """Ordinary least squares ``y = intercept + slope * x``.

    Attributes
    ----------
    slope, intercept : float
        Fitted coefficients.
    slope_se, intercept_se : float
        Their standard errors (residual variance over ``n - 2``).
    covariance : float
        ``Cov(intercept, slope)`` of the estimates.
    r2 : float
        Coefficient of determination.
    n : int
        Points used (finite pairs).
    """

    slope: float
    intercept: float
    slope_se: float
    intercept_se: float
    covariance: float
    r2: float
    n: int


def linear_fit(x: np.ndarray, y: np.ndarray) -> LinearFit:
    """Least-squares line through the finite pairs of ``x`` and ``y`` (``>= 3`` pairs needed)."""
    x, y = np.asarray(x, dtype=np.float64).reshape(-1), np.asarray(y, dtype=np.float64).reshape(-1)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = x.size
    if n < 3:
        raise ValueError(f"linear_fit needs at least 3 finite points, got {n}")
    x_mean, y_mean = x.mean(), y.mean()
    sxx = float(((x - x_mean) ** 2).sum())
    if sxx == 0.0:
        raise ValueError("linear_fit: x is constant, the slope is undetermined")
    slope = float(((x - x_mean) * (y - y_mean)).sum()) / sxx
    intercept = float(y_mean - slope * x_mean)
    residual = y - intercept - slope * x
    ss_res, ss_tot = float((residual ** 2).sum()), float(((y - y_mean) ** 2).sum())
    sigma2 = ss_res / (n - 2)
    slope_var = sigma2 / sxx
    intercept_var = sigma2 * (1.0 / n + x_mean ** 2 / sxx)
    return LinearFit(slope, intercept, math.sqrt(slope_var), math.sqrt(intercept_var),
                     -x_mean * slope_var, 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan, n)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of the finite pairs (NaN with fewer than 3 or a constant series)."""
    x, y = np.asarray(x, dtype=np.float64).reshape(-1), np.asarray(y, dtype=np.float64).reshape(-1)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3 or x.std() == 0 or y.std() == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])
