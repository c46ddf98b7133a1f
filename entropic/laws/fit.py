"""The entropy-performance law ``R = -a exp(H) + b`` (The Entropy Mechanism, Cui et al., arXiv 2505.22617).

Over a training run, reward (or accuracy) ``R`` and policy entropy ``H`` trade off along
``R = -a e^H + b``; the law predicts the ceiling reached when entropy is exhausted,
``R(H = 0) = -a + b``. It is linear in ``x = e^H``, so ordinary least squares gives ``a`` and
``b`` with their standard errors, and the ceiling's error follows from their covariance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from entropic.laws.stats import LEVEL, linear_fit, t_quantile


@dataclass(frozen=True)
class EntropyRewardFit:
    """A fitted ``R = -a exp(H) + b``.

    Attributes
    ----------
    a, b : float
        Coefficients (``a > 0`` when reward rises as entropy falls).
    a_ci, b_ci : tuple[float, float]
        Their t confidence intervals (``n - 2`` degrees of freedom).
    ceiling : float
        ``R(H = 0) = b - a``, the predicted reward of a deterministic policy.
    ceiling_ci : tuple[float, float]
        Its confidence interval.
    r2 : float
        Coefficient of determination on the fitted points.
    n : int
        Points fitted.
    level : float
        Confidence level of the intervals.
    """

    a: float
    b: float
    a_ci: tuple[float, float]
    b_ci: tuple[float, float]
    ceiling: float
    ceiling_ci: tuple[float, float]
    r2: float
    n: int
    level: float = LEVEL

    def predict(self, entropy: np.ndarray | float) -> np.ndarray | float:
        """``-a exp(H) + b`` at ``entropy`` (nats)."""
        return -self.a * np.exp(entropy) + self.b

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "a_ci": list(self.a_ci), "b_ci": list(self.b_ci),
                "ceiling": self.ceiling, "ceiling_ci": list(self.ceiling_ci), "r2": self.r2, "n": self.n}


def fit_entropy_reward(entropy: np.ndarray, reward: np.ndarray, level: float = LEVEL) -> EntropyRewardFit:
    """Fit ``reward = -a exp(entropy) + b`` by least squares in ``exp(entropy)``.

    Parameters
    ----------
    entropy : array [N]
        Mean token entropy at each point (nats).
    reward : array [N]
        Reward or accuracy at the same points. Pairs with a NaN are dropped; at least 3 remain.
    level : float
        Confidence level of the intervals (default 0.95).

    Returns
    -------
    EntropyRewardFit
    """
    line = linear_fit(np.exp(np.asarray(entropy, dtype=np.float64)), reward)
    t = t_quantile(0.5 + level / 2, line.n - 2)
    a, b = -line.slope, line.intercept
    ceiling = line.intercept + line.slope
    ceiling_se = math.sqrt(max(line.intercept_se ** 2 + line.slope_se ** 2 + 2 * line.covariance, 0.0))
    return EntropyRewardFit(a, b, (a - t * line.slope_se, a + t * line.slope_se),
                            (b - t * line.intercept_se, b + t * line.intercept_se), ceiling,
                            (ceiling - t * ceiling_se, ceiling + t * ceiling_se), line.r2, line.n, level)
