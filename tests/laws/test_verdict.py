"""Checks and verdicts are computed from the per-seed values."""

from __future__ import annotations

import numpy as np
import pytest

from entropic.laws.verdict import check, pending, verdict


@pytest.mark.parametrize("values, side, outcome", [
    ([0.9, 1.0, 1.1, 1.0, 0.95], ">", "pass"),
    ([-0.9, -1.0, -1.1, -1.0, -0.95], ">", "fail"),
    ([-1.0, 1.0, -0.5, 0.5, 0.1], ">", "inconclusive"),
    ([-0.9, -1.0, -1.1, -1.0, -0.95], "<", "pass"),
    ([0.9, 1.0, 1.1, 1.0, 0.95], "<", "fail"),
])
def test_outcome_follows_the_interval(values: list[float], side: str, outcome: str) -> None:
    assert check("x", "x", values, side, 0.0).outcome == outcome


def test_verdict_combines_outcomes() -> None:
    good = check("good", "g", [1.0, 1.1, 0.9], ">", 0.0)
    bad = check("bad", "b", [-1.0, -1.1, -0.9], ">", 0.0)
    unsure = check("unsure", "u", [-1.0, 1.0, 0.1], ">", 0.0)
    later = pending("later", "l", "needs a backend")
    assert verdict([good, good]) == "holds"
    assert verdict([good, later]) == "holds"
    assert verdict([bad, unsure]) == "does not hold"
    assert verdict([good, bad]) == "partly"
    assert verdict([good, unsure]) == "partly"
    assert verdict([later]) == "pending"


def test_flipping_the_data_flips_the_verdict() -> None:
    values = np.array([0.2, 0.25, 0.3, 0.22, 0.27])
    assert verdict([check("x", "x", values, ">", 0.1)]) == "holds"
    assert verdict([check("x", "x", -values, ">", 0.1)]) == "does not hold"


def test_to_dict_is_json_ready() -> None:
    record = check("x", "a statistic", [1.0, float("nan"), 2.0], ">", 0.5).to_dict()
    assert record["values"][1] is None and record["n"] == 2 and record["claim"] == "> 0.5"
