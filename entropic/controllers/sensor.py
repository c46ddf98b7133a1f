"""A controller's sensor: one registered reading (:data:`entropic.observe.SENSORS`), optionally smoothed.

The controller must read the same entropy it regulates, and say which: the name travels in the
config (``controller.sensor.name``) and on the controller (``EntropyController.sensor``). Readings
are per run, ``[R]``, computed by :func:`entropic.observe.observe` over the batch (or mini-batch) the
loop has just scored.
"""

from __future__ import annotations

from typing import Any

import torch

from entropic.observe import SENSORS
from entropic.protocol import Observation


class Sensor:
    """Reads one Observation key per step, with an optional exponential moving average.

    The average is ``m_k = beta * m_{k-1} + (1 - beta) * y_k``, started at the first reading
    (``m_0 = y_0``), so it has no start-up bias.

    Parameters
    ----------
    name : str
        A registered sensor name.
    ema : FloatTensor [R], optional
        Smoothing factor ``beta`` in ``[0, 1)`` per run; ``None`` reads the raw value.
    num_runs : int
        R.
    dtype, device
        Of the readings and the state.
    """

    def __init__(self, name: str, ema: torch.Tensor | None, num_runs: int, dtype: torch.dtype,
                 device: torch.device | str) -> None:
        SENSORS.get(name)
        self.name = name
        self.ema = ema
        self.num_runs = num_runs
        self.average = torch.zeros(num_runs, dtype=dtype, device=device)
        self.updates = 0

    def read(self, observation: Observation, required: bool) -> torch.Tensor | None:
        """The (smoothed) reading ``[R]``; ``None`` when the key is absent and not ``required``.

        A required key that is absent raises ``ValueError`` listing the observed keys.
        """
        if not required and self.name not in observation.values:
            return None
        value = observation[self.name].detach()
        if tuple(value.shape) != (self.num_runs,):
            raise ValueError(f"observation {self.name!r} must have shape [{self.num_runs}] (one value per run), "
                             f"got {list(value.shape)}")
        value = value.to(dtype=self.average.dtype, device=self.average.device).clone()  # own it: no aliasing
        if self.ema is not None and self.updates > 0:
            value = self.ema * self.average + (1.0 - self.ema) * value
        self.average = value
        self.updates += 1
        return value

    def state_dict(self) -> dict[str, Any]:
        """The moving average and the number of readings."""
        return {"average": self.average.clone(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if set(state) != {"average", "updates"}:
            raise ValueError(f"sensor state has keys {sorted(state)}, expected ['average', 'updates']")
        average = torch.as_tensor(state["average"])
        if average.shape != self.average.shape:
            raise ValueError(f"sensor state 'average' has shape {list(average.shape)}, "
                             f"expected {list(self.average.shape)}")
        self.average = average.to(dtype=self.average.dtype, device=self.average.device).clone()
        self.updates = int(state["updates"])
