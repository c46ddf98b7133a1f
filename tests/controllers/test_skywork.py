"""Skywork-OR1 adaptive entropy coefficient: both presets against hand-stepped sequences and TRL's inline rule."""

from __future__ import annotations

import math
import random

import pytest
import torch
import yaml

from entropic import Control, Observation
from entropic.controllers import ControllerConfig, build_controller


def _applied(presets, preset: str, entropies: list[float], **law) -> list[float]:
    data = yaml.safe_load(presets[preset].read_text())
    data["law"].update(law)
    controller = build_controller(ControllerConfig.from_dict(data), num_runs=1, dtype=torch.float64)
    sensor = controller.sensor
    out = []
    for k, entropy in enumerate(entropies):
        control = controller.update(Observation(k, {sensor: torch.tensor([entropy], dtype=torch.float64)}), Control())
        out.append(float(control.entropy_coeff[0]))
    return out


def test_trl_preset_hand_stepped(presets) -> None:
    entropies = [0.3, 0.15, 0.1, 0.2, 0.25, 0.1, 0.1]
    # step 0: no bonus (H_{-1} = inf); c_1 = max(0 - 0.005, 0) = 0 because H_0 > 0.2
    # step 1: gate on H_0 = 0.3 closed; H_1 <= 0.2 -> c_2 = 0.005
    # step 2: gate on H_1 open -> 0.005; c_3 = 0.01     step 3: 0.01; H_3 = 0.2 <= target -> c_4 = 0.015
    # step 4: gate on H_3 = 0.2 open (<=) -> 0.015; H_4 > target -> c_5 = 0.01
    # step 5: gate on H_4 = 0.25 closed -> 0 applied, entropy above target; c_6 = 0.015   step 6: 0.015
    expected = [0.0, 0.0, 0.005, 0.01, 0.015, 0.0, 0.015]
    assert _applied(presets, "skywork_trl", entropies) == pytest.approx(expected, abs=1e-15)


def test_skywork_preset_is_strict_and_reads_the_sampled_nll(presets) -> None:
    # step 0: 0; H_0 < 0.2 -> c_1 = 1e-4; step 1: gate(0.1) open -> 1e-4, H_1 = 0.2 not < -> c_2 = 0
    # step 2: gate(0.2) closed -> 0; c_3 = max(-1e-4, 0) = 0
    assert _applied(presets, "skywork_or1", [0.1, 0.2, 0.2]) == pytest.approx([0.0, 1e-4, 0.0], abs=1e-18)
    assert _applied(presets, "skywork_trl", [0.1, 0.2, 0.2]) == pytest.approx([0.0, 0.005, 0.01], abs=1e-15)
    data = yaml.safe_load(presets["skywork_or1"].read_text())
    controller = build_controller(ControllerConfig.from_dict(data), num_runs=1)
    assert controller.sensor == "entropy/sampled_nll"
    assert controller.required_observations == ("entropy/sampled_nll",)
    with pytest.raises(ValueError, match="entropy/sampled_nll"):
        controller.update(Observation(0, {"entropy/mean": torch.tensor([0.1])}), Control())


def test_clipping_at_max_and_min(presets) -> None:
    applied = _applied(presets, "skywork_or1", [0.1] * 60)
    assert applied[0] == 0.0
    assert applied[1:50] == pytest.approx([1e-4 * k for k in range(1, 50)], abs=1e-15)
    assert applied[50:] == [0.005] * 10  # clipped at max_ent_coef
    # held at min 0 while above target; one step of gate delay after the entropy drops
    assert _applied(presets, "skywork_trl", [0.5] * 5 + [0.1] * 3) == pytest.approx([0.0] * 6 + [0.005, 0.01])
    assert _applied(presets, "skywork_trl", [0.1] * 4, coef_max=0.012) == pytest.approx([0.0, 0.005, 0.01, 0.012])


def _trl_inline(entropies: list[float], target: float, delta: float, lo: float, hi: float, c0: float) -> list[float]:
    """TRL's GRPOTrainer rule, transcribed: the coefficient is used if the last entropy <= target."""
    coef, last, out = c0, math.inf, []
    for entropy in entropies:
        out.append(coef if last <= target else 0.0)
        if entropy <= target:
            coef = min(coef + delta, hi)
        else:
            coef = max(coef - delta, lo)
        last = entropy
    return out


def test_trl_preset_equals_trl_inline_rule_on_a_random_sequence(presets) -> None:
    rng = random.Random(0)
    entropies = [rng.uniform(0.1, 0.3) for _ in range(200)]
    expected = _trl_inline(entropies, 0.2, 0.005, 0.0, 1.0, 0.0)
    assert _applied(presets, "skywork_trl", entropies) == pytest.approx(expected, abs=1e-12)


def test_metrics_expose_gate_coefficient_and_one_sided_action(presets) -> None:
    data = yaml.safe_load(presets["skywork_trl"].read_text())
    controller = build_controller(ControllerConfig.from_dict(data), num_runs=2, dtype=torch.float64)
    entropies = torch.tensor([0.1, 0.9], dtype=torch.float64)  # run 0 below target, run 1 far above
    for k in range(4):
        control = controller.update(Observation(k, {"entropy/mean": entropies}), Control())
    metrics = controller.metrics
    assert metrics["controller/gate"].tolist() == [1.0, 0.0]
    assert metrics["controller/i"].tolist() == pytest.approx([0.015, 0.0])
    assert control.entropy_coeff.tolist() == pytest.approx([0.015, 0.0])  # never negative: it cannot lower entropy
    assert metrics["controller/error"].tolist() == pytest.approx([0.1, -0.7])
