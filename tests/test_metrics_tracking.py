"""Tracking statistics against hand-computed trajectories."""

from __future__ import annotations

import math

import torch

from entropic.metrics.tracking import (
    first_crossing,
    max_relative_error,
    mean_absolute_error,
    min_after_crossing,
    within_band,
)

# two runs, target 1.0: run 0 falls from 2.0 through the target and settles at 0.95; run 1 never gets there
TRAJECTORY = torch.tensor([[2.0, 3.0], [1.5, 2.8], [0.92, 2.6], [1.05, 2.4], [0.95, 2.2]])


def test_band_and_errors_by_hand() -> None:
    torch.testing.assert_close(max_relative_error(TRAJECTORY, 1.0, start=2), torch.tensor([0.08, 1.6]))
    assert within_band(TRAJECTORY, 1.0, start=2).tolist() == [True, False]
    assert within_band(TRAJECTORY, 1.0, start=2, tolerance=0.05).tolist() == [False, False]
    torch.testing.assert_close(mean_absolute_error(TRAJECTORY, 1.0, start=3), torch.tensor([0.05, 1.3]))


def test_first_crossing_and_minimum_after_it() -> None:
    assert first_crossing(TRAJECTORY, 1.0).tolist() == [2, -1]
    lowest = min_after_crossing(TRAJECTORY, 1.0)
    assert lowest[0] == torch.tensor(0.92) and math.isnan(lowest[1])


def test_crossing_from_below() -> None:
    rising = torch.tensor([[0.2], [0.6], [1.1], [0.98]])
    assert first_crossing(rising, 1.0).tolist() == [2]
    torch.testing.assert_close(min_after_crossing(rising, 1.0), torch.tensor([0.98]))
