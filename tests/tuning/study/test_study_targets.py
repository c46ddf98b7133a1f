"""Trial targets against closed forms on hand-made trajectories."""

from __future__ import annotations

import math

import pytest
import torch

from entropic.tuning.study.batch import Trace
from entropic.tuning.study.targets import TargetSettings, check_targets, get_target, get_targets

pytestmark = pytest.mark.usefixtures("one_thread")


def _trace() -> Trace:
    steps = torch.arange(1, 11, dtype=torch.float32)  # 1 .. 10
    reward = torch.stack([steps / 10, steps / 20], dim=1)  # [10, 2]
    entropy = torch.stack([torch.full((10,), 1.5), torch.linspace(2.0, 0.2, 10)], dim=1)
    evals = {5: {"eval/pass@1": torch.tensor([0.2, 0.1]), "eval/pass@4": torch.tensor([0.5, 0.4])},
             10: {"eval/pass@1": torch.tensor([0.6, 0.4]), "eval/pass@4": torch.tensor([0.9, 0.8])}}
    return Trace(reward, entropy, evals, torch.tensor([-1, -1]))


def test_values_are_means_over_seeds_of_closed_forms() -> None:
    trace, settings = _trace(), TargetSettings(target_entropy=1.0, tail=0.5)
    assert get_target("pass@1").value(trace, settings) == pytest.approx(0.5)
    assert get_target("pass@4").value(trace, settings) == pytest.approx(0.85)
    assert get_target("reward_auc").value(trace, settings) == pytest.approx((0.55 + 0.275) / 2)
    # the last 5 steps: rewards 0.6..1.0 and 0.3..0.5
    assert get_target("final_reward").value(trace, settings) == pytest.approx((0.8 + 0.4) / 2)
    tail = torch.linspace(2.0, 0.2, 10)[5:].double()
    expected = (0.5 + float((tail - 1.0).abs().mean())) / 2
    assert get_target("tracking_error").value(trace, settings) == pytest.approx(expected, rel=1e-6)


def test_intermediate_values_use_the_steps_done() -> None:
    trace, settings = _trace(), TargetSettings(target_entropy=1.0)
    early = Trace(trace.reward[:5], trace.entropy[:5], {5: trace.evals[5]}, trace.diverged_at)
    assert get_target("pass@1").value(early, settings) == pytest.approx(0.15)
    assert get_target("reward_auc").value(early, settings) == pytest.approx((0.3 + 0.15) / 2)


def test_directions_and_names() -> None:
    assert [target.direction for target in get_targets(["pass@1", "reward_auc", "tracking_error"])] == \
        ["maximize", "maximize", "minimize"]
    with pytest.raises(ValueError, match="unknown tuning target 'pass@k'"):
        get_target("pass@k")
    with pytest.raises(ValueError, match="lists a name twice"):
        get_targets(["pass@1", "pass@1"])


def test_non_finite_run_makes_the_value_nan() -> None:
    trace = _trace()
    trace.reward[3, 1] = math.nan
    assert math.isnan(get_target("reward_auc").value(trace, TargetSettings()))


def test_missing_inputs_are_refused_before_the_study() -> None:
    with pytest.raises(ValueError, match="needs tune.target_entropy"):
        check_targets(get_targets(["tracking_error"]), TargetSettings(), [1, 8])
    with pytest.raises(ValueError, match="add 16 to backend.eval_k"):
        check_targets(get_targets(["pass@16"]), TargetSettings(), [1, 8])
    with pytest.raises(ValueError, match="tail"):
        TargetSettings(tail=0.0)
