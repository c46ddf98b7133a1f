"""The composed controller: law x actuator x sensor, vectorised over R runs.

Build one with :func:`build_controller` and call it once per optimizer step, after scoring
(as :meth:`entropic.loop.Trainer.train_step` does)::

    controller = build_controller(config, num_runs=R, base_control=control)
    for step in range(num_steps):
        ...                                                   # rollout, advantages, score
        observation = observe(step, rollout, stats, adv)      # readings [R], per run, of this batch
        control = controller.update(observation, control)     # the knobs for this step
        loss, metrics = objective(PolicyBatch.from_step(rollout, stats, adv, generators), control)
        log(controller.metrics)                               # controller/error, p, i, d, raw, output, ...

``controller.state_dict()`` goes into the checkpoint; a controller built from the same config
and restored with ``load_state_dict`` continues exactly as the uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from entropic.control import Control
from entropic.controllers.actuators import ACTUATORS, Actuator
from entropic.controllers.config import ControllerConfig
from entropic.controllers.control_laws import CONTROL_LAWS, Law, Metrics, stack_params
from entropic.controllers.sensor import Sensor
from entropic.protocol import Observation


class EntropyController:
    """A control law reading one sensor and driving one actuator, for R independent runs.

    Implements :class:`entropic.protocol.Controller`. Build it with :func:`build_controller`.

    Parameters
    ----------
    law : Law
        The control law (its parameters and state are tensors ``[R]``).
    law_name : str
        Its registered name.
    open_loop : bool
        Whether the law outputs the knob value (constant, schedules) rather than an effort.
    actuator : Actuator
        Maps the law's output to Control fields.
    sensor : Sensor
        Reads (and optionally smooths) the measured entropy.

    Attributes
    ----------
    metrics : dict[str, FloatTensor [R]]
        The last update's diagnostics: ``controller/error`` (setpoint - measurement),
        ``controller/p``, ``controller/i``, ``controller/d``, ``controller/raw`` (before limits),
        ``controller/output`` (after limits), ``controller/setpoint``, ``controller/measurement``,
        plus law-specific keys (``controller/gate``, ``controller/alpha``).
    """

    def __init__(self, law: Law, law_name: str, open_loop: bool, actuator: Actuator, sensor: Sensor) -> None:
        self._law = law
        self._actuator = actuator
        self._sensor = sensor
        self.law = law_name
        self.open_loop = open_loop
        self.metrics: Metrics = {}

    @property
    def sensor(self) -> str:
        """The Observation key this controller reads (``"entropy/mean"``, ...)."""
        return self._sensor.name

    @property
    def actuator(self) -> str:
        """The registered actuator name (``"entropy_coeff"``, ``"pos_neg_weight"``, ...)."""
        return self._actuator.name

    @property
    def drives(self) -> frozenset[str]:
        """The Control fields this controller writes."""
        return frozenset(self._actuator.spec.fields)

    @property
    def required_observations(self) -> tuple[str, ...]:
        """Observation keys ``update`` needs: the sensor for a feedback law, nothing for an open-loop one."""
        return () if self.open_loop else (self._sensor.name,)

    def update(self, observation: Observation, control: Control) -> Control:
        """Choose this step's knobs.

        Parameters
        ----------
        observation : Observation
            ``step`` is the optimizer step the control is for; ``values[sensor]`` the entropy
            ``[R]`` measured on this step's batch (required by feedback laws).
        control : Control
            The current knobs.

        Returns
        -------
        Control
            ``control`` with the actuator's fields replaced by tensors ``[R]``.
        """
        measurement = self._sensor.read(observation, required=not self.open_loop)
        output, self.metrics = self._law.step(observation.step, measurement)
        return control.replace(**self._actuator.apply(output))

    def set_gains(self, **gains: Any) -> None:
        """Change PID gains mid-run without a bump in the output (``kp``, ``ki``, ``kd``: float or ``[R]``)."""
        set_gains = getattr(self._law, "set_gains", None)
        if set_gains is None:
            raise ValueError(f"law {self.law!r} has no gains to set; set_gains applies to 'p', 'pi', 'pid'")
        set_gains(**gains)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: the law's and the sensor's state, and what they belong to."""
        return {"law": self.law, "actuator": self.actuator, "sensor": self.sensor,
                "law_state": self._law.state_dict(), "sensor_state": self._sensor.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; a state saved by another law, actuator or sensor raises ``ValueError``."""
        for key in ("law", "actuator", "sensor"):
            if state.get(key) != getattr(self, key):
                raise ValueError(f"controller state is for {key} {state.get(key)!r}, this controller has "
                                 f"{getattr(self, key)!r}")
        self._law.load_state_dict(state["law_state"])
        self._sensor.load_state_dict(state["sensor_state"])


def build_controller(config: ControllerConfig | Sequence[ControllerConfig], num_runs: int,
                     base_control: Control | None = None, *, dtype: torch.dtype = torch.float32,
                     device: torch.device | str = "cpu") -> EntropyController:
    """Build the controller of ``config`` for ``num_runs`` independent runs.

    Parameters
    ----------
    config : ControllerConfig or sequence of ControllerConfig
        One config for every run, or one per run (length ``num_runs``) for per-run parameters
        (gains, setpoints, limits, ...; e.g. a batch of tuning trials). Per-run configs must
        agree on everything that selects code: law, actuator and sensor names, anti-windup
        choice, and which optional fields are set.
    num_runs : int
        R, >= 1.
    base_control : Control, optional
        The knobs before control (default ``Control()``): feedback laws on actuators whose
        zero-effort knob is the base value (``clip_ratio_high``, ``kl_loss_coef``,
        ``top_entropy_quantile``, ...) move it by ``direction * u`` from here.
    dtype, device
        Of the controller's state and of the Control tensors it writes.

    Returns
    -------
    EntropyController
    """
    configs = [config] if isinstance(config, ControllerConfig) else list(config)
    if num_runs < 1 or len(configs) not in (1, num_runs):
        raise ValueError(f"build_controller needs num_runs >= 1 and one config or num_runs={num_runs} configs, "
                         f"got {len(configs)}")
    if not all(isinstance(c, ControllerConfig) for c in configs):
        raise ValueError("build_controller takes ControllerConfig objects (use ControllerConfig.from_dict)")
    base_control = Control() if base_control is None else base_control
    law_params = stack_params([c.law for c in configs], num_runs, dtype, device, "controller.law")
    actuator_params = stack_params([c.actuator for c in configs], num_runs, dtype, device, "controller.actuator")
    sensor_params = stack_params([c.sensor for c in configs], num_runs, dtype, device, "controller.sensor")
    spec = ACTUATORS.get(actuator_params.name)
    open_loop = type(configs[0].law).open_loop
    bias = None
    if not open_loop:
        bias = actuator_params.bias
        if bias is None:
            bias = (torch.full((num_runs,), spec.zero_effort, dtype=dtype, device=device)
                    if spec.zero_effort is not None else spec.knob_of(base_control, num_runs, dtype, device))
        if not bool(torch.isfinite(bias).all()):
            raise ValueError(f"actuator {spec.name!r} has no finite knob value at zero effort in the base control "
                             f"({bias.tolist()}); set controller.actuator.bias")
        k_low, k_high = spec.knob_limits()
        if bool(((bias < k_low) | (bias > k_high)).any()):
            raise ValueError(f"controller.actuator.bias {bias.tolist()} is outside the physical range "
                             f"[{k_low}, {k_high}] of actuator {spec.name!r}")
    actuator = Actuator(spec, bias, num_runs, dtype, device)
    law = CONTROL_LAWS.get(law_params.name).build(law_params, actuator.low, actuator.high)
    sensor = Sensor(sensor_params.name, sensor_params.ema, num_runs, dtype, device)
    return EntropyController(law, law_params.name, open_loop, actuator, sensor)

