"""The registry of advantage estimators and the one signature they share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import torch

from entropic.protocol import Rollout
from entropic.registry import Registry

if TYPE_CHECKING:
    from entropic.advantages.config import AdvantageConfig


class AdvantageFn(Protocol):
    """``fn(rollout, config) -> advantages [B, T]`` (0 on padding)."""

    def __call__(self, rollout: Rollout, config: AdvantageConfig) -> torch.Tensor: ...


ADV_ESTIMATORS: Registry[AdvantageFn] = Registry("advantage estimator", "advantage.adv_estimator")
"""Estimators by verl ``algorithm.adv_estimator`` name."""
