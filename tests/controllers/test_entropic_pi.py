"""EntroPIC's PI law: the authors' rule, hand-stepped, and the anti-windup variants."""

from __future__ import annotations

import pytest
import torch
import yaml

from entropic import Control, Observation
from entropic.controllers import ControllerConfig, build_controller


def _alphas(data: dict, entropies: list[float]) -> tuple[list[float], list[float]]:
    controller = build_controller(ControllerConfig.from_dict(data), num_runs=1, dtype=torch.float64)
    written, logged = [], []
    for k, entropy in enumerate(entropies):
        control = controller.update(Observation(k, {"entropy/mean": torch.tensor([entropy], dtype=torch.float64)}),
                                    Control())
        written.append(float(control.entropic_alpha[0]))
        logged.append(float(controller.metrics["controller/alpha"][0]))
        assert float(controller.metrics["controller/output"][0]) == -written[-1]
    return written, logged


def _authors_rule(entropies: list[float], kp: float, ki: float, target: float) -> list[float]:
    """The rule as written in the authors' dp_actor: alpha from the integral before this update."""
    integral, out = 0.0, []
    for h in entropies:
        out.append(min(max(kp * (h - target) + ki * integral, -1.0), 1.0) if target >= 0 else 0.0)
        integral += (h - target) * 1.0
    return out


def test_authors_preset_hand_stepped(presets) -> None:
    data = yaml.safe_load(presets["entropic_pi"].read_text())
    assert data["law"]["anti_windup"] == "none" and (data["law"]["kp"], data["law"]["ki"]) == (1.0, 0.01)
    entropies = [0.5, 0.3, 0.05, 0.12, 2.0, 2.0, 0.1]
    # target 0.1: errors 0.4, 0.2, -0.05, 0.02, 1.9, 1.9, 0; integral before each: 0, 0.4, 0.6, 0.55, 0.57, 2.47, 4.37
    expected = [0.4, 0.2 + 0.004, -0.05 + 0.006, 0.02 + 0.0055, 1.0, 1.0, 0.0437]
    written, logged = _alphas(data, entropies)
    assert written == pytest.approx(expected, abs=1e-12)
    assert logged == written
    assert written == pytest.approx(_authors_rule(entropies, 1.0, 0.01, 0.1), abs=1e-15)


def test_negative_target_disables(presets) -> None:
    data = yaml.safe_load(presets["entropic_pi"].read_text())
    data["law"]["target"] = -1.0  # the authors' config default
    assert _alphas(data, [0.5, 0.01, 3.0])[0] == [0.0, 0.0, 0.0]


def test_alpha_sign_follows_the_authors_convention(presets) -> None:
    data = yaml.safe_load(presets["entropic_pi"].read_text())
    written, _ = _alphas(data, [0.5])
    assert written[0] > 0  # entropy above target -> alpha > 0 -> entropy falls


def _positive_steps_after_drop(data: dict) -> int:
    entropies = [2.0] * 50 + [0.05] * 200  # long saturation at alpha = 1, then entropy falls below target
    written, _ = _alphas(data, entropies)
    return sum(alpha > 0 for alpha in written[50:])


def test_anti_windup_leaves_saturation_sooner_than_the_authors_rule(presets) -> None:
    authors = yaml.safe_load(presets["entropic_pi"].read_text())
    plain = _positive_steps_after_drop(authors)
    assert plain == 200  # the wound-up integral (95 nats) keeps alpha > 0 long after entropy dropped
    for anti_windup in ("clamp", "back_calculation"):
        data = yaml.safe_load(presets["entropic_pi_antiwindup"].read_text())
        data["law"]["anti_windup"] = anti_windup
        assert _positive_steps_after_drop(data) == 0, anti_windup
