"""Shared fixtures of the controller tests: a discrete first-order entropy plant and the preset files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from entropic import Control, Observation
from entropic.controllers import EntropyController

PRESETS = Path(__file__).resolve().parents[2] / "configs" / "controller"

Loop = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def first_order_loop(controller: EntropyController, a: float | torch.Tensor, b: float | torch.Tensor, steps: int,
                     num_runs: int = 1, y0: float = 0.0, field: str = "entropy_coeff",
                     sensor: str = "entropy/mean") -> tuple[torch.Tensor, torch.Tensor]:
    """Close the loop on ``y[k+1] = a y[k] + b u[k]`` (float64), ``u`` being the Control field ``field``.

    Convention: at step k the controller sees ``y[k]`` and chooses ``u[k]`` (direct feed-through);
    ``u[k]`` acts on the plant during step k, so its effect appears in ``y[k+1]`` (one-step delay in
    the plant). Returns ``(y, u)``, each ``[steps, R]``: ``y[k]`` the measurement at step k.
    """
    control = Control()
    y = torch.full((num_runs,), y0, dtype=torch.float64)
    ys, us = [], []
    for k in range(steps):
        control = controller.update(Observation(k, {sensor: y}), control)
        u = getattr(control, field)
        ys.append(y)
        us.append(u)
        y = a * y + b * u
    return torch.stack(ys), torch.stack(us)


@pytest.fixture
def loop() -> Loop:
    """The closed loop on the first-order plant (see :func:`first_order_loop`)."""
    return first_order_loop


@pytest.fixture
def presets() -> dict[str, Path]:
    """Preset name -> YAML file under ``configs/controller/``."""
    return {path.stem: path for path in sorted(PRESETS.glob("*.yaml"))}
