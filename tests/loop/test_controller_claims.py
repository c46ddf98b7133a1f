"""The controller claims on the default bandit (5 seeds, 1,000 steps each): slow, run with ``-m slow``."""

from __future__ import annotations

from pathlib import Path

import pytest

from entropic.experiment import build_trainer
from entropic.metrics.tracking import min_after_crossing, within_band
from entropic.run_log import read_metric

TARGET = 1.5


def _entropy(experiment: str, make_config, tmp_path: Path):
    build_trainer(make_config(f"experiment={experiment}", "backend.num_prompts=64", "backend.group_size=8"),
                  tmp_path).fit(progress=False)
    return read_metric(tmp_path, "entropy/mean")  # [steps, seeds]


@pytest.mark.slow
def test_pi_on_entropy_coeff_holds_the_target_where_grpo_collapses(make_config, tmp_path: Path) -> None:
    controlled = _entropy("pi_entropy_coeff_bandit", make_config, tmp_path / "pi")
    uncontrolled = _entropy("grpo_uncontrolled_bandit", make_config, tmp_path / "grpo")
    assert int(within_band(controlled, TARGET, start=200, tolerance=0.1).sum()) >= 4
    assert bool((uncontrolled[-1] < 0.1 * TARGET).all())


@pytest.mark.slow
def test_skywork_keeps_entropy_above_its_lower_band_once_the_coefficient_has_ramped(make_config,
                                                                                   tmp_path: Path) -> None:
    entropy = _entropy("skywork_bandit", make_config, tmp_path)
    assert int((entropy[200:].amin(0) >= 0.9 * TARGET).sum()) >= 4
    # the coefficient starts at 0 and ramps by delta a step: right after the first crossing it undershoots
    assert bool((min_after_crossing(entropy, TARGET) < 0.9 * TARGET).all())
