"""Per-run lists: one helper splits control knobs, controller configs and learning rates alike."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from entropic.per_run import split_runs


def test_a_value_without_lists_is_not_per_run() -> None:
    assert split_runs(0.5, 3, "control.entropy_coeff") is None
    assert split_runs({"law": {"name": "pi", "kp": 0.1}}, 3, "controller") is None
    assert split_runs(None, 1, "backend.lr") is None


def test_a_list_gives_one_value_per_run() -> None:
    assert split_runs([16.0, 32.0, 64.0], 3, "backend.lr") == [16.0, 32.0, 64.0]
    assert split_runs(OmegaConf.create([16.0, 32.0]), 2, "backend.lr") == [16.0, 32.0]  # as Hydra passes it


def test_nested_lists_are_picked_per_run_and_list_fields_are_kept() -> None:
    controller = {"law": {"name": "step", "start": [0.1, 0.2], "milestones": [10, 20],
                          "values": [[0.3, 0.4], [0.5, 0.6]]},
                  "actuator": {"name": "clip_ratio_high"}}
    runs = split_runs(controller, 2, "controller", {"controller.law.milestones", "controller.law.values"})
    assert runs == [
        {"law": {"name": "step", "start": 0.1, "milestones": [10, 20], "values": [0.3, 0.4]},
         "actuator": {"name": "clip_ratio_high"}},
        {"law": {"name": "step", "start": 0.2, "milestones": [10, 20], "values": [0.5, 0.6]},
         "actuator": {"name": "clip_ratio_high"}},
    ]


def test_a_list_of_another_length_than_num_runs_names_the_field_and_num_runs() -> None:
    with pytest.raises(ValueError, match=r"^control.kl_loss_coef: a per-run list must hold num_runs=3 values \(one "
                                         r"per run\), got 2$"):
        split_runs([0.1, 0.2], 3, "control.kl_loss_coef")
    with pytest.raises(ValueError, match=r"^controller.law.ki: a per-run list must hold num_runs=2 values"):
        split_runs({"law": {"kp": [0.1, 0.2], "ki": [0.1, 0.2, 0.3]}}, 2, "controller")


def test_lists_must_agree_when_num_runs_is_open() -> None:
    with pytest.raises(ValueError, match=r"^controller.law.ki, controller.law.kp: per-run lists must each hold one "
                                         r"value per run, got lengths \[3, 2\]$"):
        split_runs({"law": {"kp": [0.1, 0.2], "ki": [0.1, 0.2, 0.3]}}, None, "controller")
    with pytest.raises(ValueError, match="one value per run"):
        split_runs([], None, "backend.lr")
