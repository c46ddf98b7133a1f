"""Verdicts computed from per-seed statistics: a claim is a few one-sided tests on confidence intervals.

A :class:`Check` holds one statistic per seed, a threshold and the side the claim puts it on.
Its outcome is ``pass`` when the whole confidence interval over seeds lies on the claimed side,
``fail`` when it lies wholly on the other side, ``inconclusive`` otherwise, and ``pending`` when
the setting cannot be run yet. A claim's verdict combines its checks (pending ones aside):
``holds`` when all pass, ``does not hold`` when none passes and at least one fails, ``partly``
otherwise; ``pending`` when every check is pending.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from entropic.laws.stats import Estimate, mean_ci

OUTCOMES = ("pass", "fail", "inconclusive", "pending")
VERDICTS = ("holds", "does not hold", "partly", "pending")


@dataclass(frozen=True)
class Check:
    """One test of a claim.

    Attributes
    ----------
    name : str
        Short identifier (``psr_collapses``).
    statistic : str
        What the per-seed value is, in words, with its unit.
    estimate : Estimate
        The per-seed values, their mean and confidence interval.
    threshold : float
        The value the claim is tested against.
    side : str
        ``">"``: the claim says the statistic exceeds ``threshold``; ``"<"``: it stays below.
    note : str
        Why the check is pending, or a caveat.
    """

    name: str
    statistic: str
    estimate: Estimate
    threshold: float
    side: str
    note: str = ""

    def __post_init__(self) -> None:
        if self.side not in (">", "<"):
            raise ValueError(f"Check.side must be '>' or '<', got {self.side!r}")

    @property
    def outcome(self) -> str:
        """``pass``, ``fail``, ``inconclusive`` or ``pending`` (no finite value)."""
        low, high = self.estimate.low, self.estimate.high
        if self.estimate.n == 0 or math.isnan(low):
            return "pending"
        above, below = low > self.threshold, high < self.threshold
        if self.side == ">":
            return "pass" if above else "fail" if high <= self.threshold else "inconclusive"
        return "pass" if below else "fail" if low >= self.threshold else "inconclusive"

    def to_dict(self) -> dict:
        return {"name": self.name, "statistic": self.statistic, "claim": f"{self.side} {self.threshold:g}",
                "outcome": self.outcome, **self.estimate.to_dict(), **({"note": self.note} if self.note else {})}


def check(name: str, statistic: str, values: np.ndarray | list[float], side: str, threshold: float,
          note: str = "") -> Check:
    """A :class:`Check` of per-seed ``values`` (their mean and 95% t interval) against ``threshold``."""
    return Check(name, statistic, mean_ci(values), threshold, side, note)


def pending(name: str, statistic: str, reason: str) -> Check:
    """A check that cannot be computed yet, with the reason."""
    return Check(name, statistic, mean_ci([]), math.nan, ">", reason)


def verdict(checks: list[Check]) -> str:
    """Combine the outcomes of ``checks`` into one of :data:`VERDICTS` (see the module docstring)."""
    outcomes = [c.outcome for c in checks if c.outcome != "pending"]
    if not outcomes:
        return "pending"
    if all(o == "pass" for o in outcomes):
        return "holds"
    if "pass" not in outcomes and "fail" in outcomes:
        return "does not hold"
    return "partly"


@dataclass
class ClaimResult:
    """What the evaluation of one claim produced.

    Attributes
    ----------
    checks : list[Check]
        The tests the verdict is computed from.
    info : dict
        Further statistics reported but not tested (per-variant means, fits, ...), JSON-ready.
    figures : list[dict]
        Plot specifications for the report (see :mod:`entropic.laws.report`).
    notes : list[str]
        Pending parts, substitutions and caveats, in words.
    """

    checks: list[Check] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    figures: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return verdict(self.checks)
