"""The controller on verl's driver: the step's metrics in, the knobs of the actor update out.

verl's ``PPOTrainer`` computes, before each actor update, the old policy's log-probs and entropies of the
step's batch and logs ``actor/entropy = agg_loss(entropy, response_mask, actor.loss_agg_mode,
loss_scale_factor)`` over the whole batch on the driver. Under each ``loss_agg_mode`` that number is:

=============================  ================================================================
loss_agg_mode                  ``actor/entropy``
=============================  ================================================================
``token-mean``                 the token-mean entropy: entropic's ``entropy/mean`` sensor
``seq-mean-token-mean``        the mean over responses of each response's token mean
``seq-mean-token-sum``         the mean over responses of each response's entropy sum
``seq-mean-token-sum-norm``    that, divided by ``loss_scale_factor`` (or the padded length)
``token-sum``                  the batch's entropy sum (grows with the batch)
=============================  ================================================================

so a feedback law reads ``entropy/mean`` from it only under ``token-mean`` (:data:`FEEDBACK_SENSORS`);
verl computes it whatever the objective reads, except in rollout-correction bypass mode, where the old
log-probs are the rollout's and no entropy is computed. :class:`KnobHook` updates the controller once per
actor update from that reading (the step it is chosen for counts updates from 0, as entropic's loop
counts rollout steps) and returns the driven knobs; the trainer sends them with the batch, so every
data-parallel rank uses the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from entropic.control import Control
from entropic.controllers import ControllerConfig, build_controller
from entropic.llm.verl.knobs import ACTOR
from entropic.llm.verl.routes import FEEDBACK_SENSORS
from entropic.protocol import Observation


class KnobHook:
    """An entropic controller driven by verl's per-step metrics.

    Parameters
    ----------
    controller : ControllerConfig
        The controller; a feedback law's sensor must be one of :data:`FEEDBACK_SENSORS`.
    control : Control
        The knobs before control (the actuator's bias defaults to them).
    loss_agg_mode : str
        verl's ``actor.loss_agg_mode``, which decides what ``actor/entropy`` measures.
    """

    def __init__(self, controller: ControllerConfig, control: Control, loss_agg_mode: str) -> None:
        self.controller = build_controller(controller, 1, control)
        self.control = control
        self.updates = 0
        if self.controller.open_loop:
            return
        sensor = self.controller.sensor
        if sensor not in FEEDBACK_SENSORS:
            raise ValueError(f"controller.sensor.name={sensor!r} is not measured in verl before the actor update; "
                             f"allowed values: {sorted(FEEDBACK_SENSORS)}")
        if loss_agg_mode != "token-mean":
            raise ValueError(f"controller.sensor.name={sensor!r} reads verl's {FEEDBACK_SENSORS[sensor]}, a token "
                             f"mean only under {ACTOR}.loss_agg_mode='token-mean' (got {loss_agg_mode!r})")

    def update(self, metrics: Mapping[str, Any]) -> dict[str, float]:
        """Update the controller from one step's verl metrics; return the knobs it drives for this update.

        ``metrics`` holds verl's floats (``actor/entropy``, ...), as ``_compute_old_log_prob`` leaves them.
        """
        values = {sensor: torch.tensor([float(metrics[metric])], dtype=torch.float64)
                  for sensor, metric in FEEDBACK_SENSORS.items() if metric in metrics}
        if not self.controller.open_loop and self.controller.sensor not in values:
            metric = FEEDBACK_SENSORS[self.controller.sensor]
            raise ValueError(f"verl logged no {metric} before the actor update (rollout-correction bypass mode "
                             f"skips it); the controller reads it as {self.controller.sensor!r}")
        self.control = self.controller.update(Observation(step=self.updates, values=values), self.control)
        self.updates += 1
        return self.knobs

    @property
    def knobs(self) -> dict[str, float]:
        """The driven knobs' current values."""
        return {name: float(torch.as_tensor(getattr(self.control, name)).reshape(-1)[0])
                for name in sorted(self.controller.drives)}

    @property
    def metrics(self) -> dict[str, float]:
        """The last update's controller metrics and the knobs, as ``entropic/*`` floats for verl's logger."""
        values = {f"entropic/{name}": float(value.reshape(-1)[0]) for name, value in self.controller.metrics.items()}
        return values | {f"entropic/control/{name}": value for name, value in self.knobs.items()}

    def state_dict(self) -> dict[str, Any]:
        """The controller's state, the knobs and the update count: what resuming needs."""
        return {"controller": self.controller.state_dict(), "knobs": self.knobs, "updates": self.updates}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.controller.load_state_dict(state["controller"])
        self.control = self.control.replace(**state["knobs"])
        self.updates = int(state["updates"])
