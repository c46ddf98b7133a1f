"""Control: defaults, validated limits, per-run tensors, immutability."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from entropic.control import Control, control_fields, control_limits


def test_defaults_follow_verl_and_trl() -> None:
    c = Control()
    assert (c.clip_ratio_low, c.clip_ratio_high, c.clip_ratio_c) == (0.2, 0.2, 3.0)
    assert (c.entropy_coeff, c.kl_loss_coef, c.top_entropy_quantile) == (0.0, 0.001, 1.0)
    assert (c.clip_cov_ratio, c.clip_cov_lb, c.clip_cov_ub, c.kl_cov_ratio) == (2e-4, 1.0, 5.0, 2e-4)
    assert (c.pos_weight, c.neg_weight, c.entropic_alpha, c.high_prob_thresh) == (1.0, 1.0, 0.0, 0.95)
    assert c.off_policy_mask_threshold == math.inf
    assert c.num_runs is None


@pytest.mark.parametrize(("field", "value", "allowed"), [
    ("top_entropy_quantile", 0.0, "(0.0, 1.0]"),
    ("top_entropy_quantile", 1.5, "(0.0, 1.0]"),
    ("top_entropy_quantile", -0.2, "(0.0, 1.0]"),
    ("clip_ratio_low", -0.1, "[0.0, 1.0]"),
    ("clip_ratio_low", 1.5, "[0.0, 1.0]"),  # 1 - eps_low < 0: a bound no ratio can reach
    ("clip_ratio_high", -0.01, "[0.0, inf]"),
    ("clip_ratio_c", 1.0, "(1.0, inf]"),
    ("clip_ratio_c", 0.5, "(1.0, inf]"),
    ("entropic_alpha", 1.5, "[-1.0, 1.0]"),
    ("high_prob_thresh", 1.0, "(0.0, 1.0)"),
    ("high_prob_thresh", 0.0, "(0.0, 1.0)"),
    ("clip_cov_ratio", 1.1, "[0.0, 1.0]"),
    ("kl_cov_ratio", -1e-3, "[0.0, 1.0]"),
    ("pos_weight", -0.1, "[0.0, inf]"),
    ("kl_loss_coef", -1.0, "[0.0, inf]"),
    ("entropy_coeff", math.nan, "[-inf, inf]"),
])
def test_out_of_range_names_field_and_range(field: str, value: float, allowed: str) -> None:
    with pytest.raises(ValueError, match=f"Control.{field}") as info:
        Control(**{field: value})
    assert allowed in str(info.value)


@pytest.mark.parametrize("value", [torch.tensor([0.5, 0.0]), torch.tensor([1.0, 1.01])])
def test_per_run_tensor_with_one_bad_entry(value: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="top_entropy_quantile"):
        Control(top_entropy_quantile=value)


@pytest.mark.parametrize("value", [torch.tensor([[0.2]]), torch.tensor([1, 2]), torch.tensor(0.2), True, "0.2",
                                   None])
def test_wrong_types_raise(value: object) -> None:
    with pytest.raises(ValueError, match="Control.clip_ratio_high"):
        Control(clip_ratio_high=value)  # type: ignore[arg-type]


def test_per_run_tensors_must_agree_on_r() -> None:
    with pytest.raises(ValueError, match="number of runs"):
        Control(entropy_coeff=torch.tensor([0.0, 0.1, 0.5]), clip_ratio_high=torch.tensor([0.2, 0.28]))
    c = Control(entropy_coeff=torch.tensor([0.0, 0.1, 0.5]), clip_ratio_high=torch.tensor([0.2, 0.28, 0.3]))
    assert c.num_runs == 3


@pytest.mark.parametrize(("lb", "ub"), [(1.0, 1.0), (5.0, 1.0), (torch.tensor([0.0, 3.0]), torch.tensor([1.0, 3.0])),
                                        (2.0, torch.tensor([3.0, 1.0]))])
def test_clip_cov_bounds_must_be_ordered(lb: float | torch.Tensor, ub: float | torch.Tensor) -> None:
    with pytest.raises(ValueError, match="clip_cov_lb"):
        Control(clip_cov_lb=lb, clip_cov_ub=ub)


def test_replace_validates_and_rejects_unknown_names() -> None:
    c = Control()
    assert c.replace(clip_ratio_high=0.28).clip_ratio_high == 0.28
    assert c.clip_ratio_high == 0.2
    with pytest.raises(ValueError, match="clip_ratio_c"):
        c.replace(clip_ratio_c=1.0)
    with pytest.raises(ValueError, match="unknown Control field") as info:
        c.replace(entropy_coef=0.1)
    assert "entropy_coeff" in str(info.value)


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Control().entropy_coeff = 0.1  # type: ignore[misc]


def test_limits_and_fields() -> None:
    assert control_limits("top_entropy_quantile") == (0.0, 1.0)
    assert control_limits("entropic_alpha") == (-1.0, 1.0)
    assert set(Control().to_dict()) == set(control_fields())
    with pytest.raises(ValueError, match="unknown Control field"):
        control_limits("nope")


def test_boundary_values_are_accepted() -> None:
    Control(top_entropy_quantile=1.0, clip_ratio_low=0.0, clip_ratio_c=1.0001, entropic_alpha=-1.0,
            clip_cov_ratio=0.0, kl_cov_ratio=1.0, off_policy_mask_threshold=-math.inf)
