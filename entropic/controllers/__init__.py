"""Entropy controllers: a controller is a law x an actuator x a sensor, all three from config.

- Laws (:data:`CONTROL_LAWS`): ``constant``; schedules ``linear``, ``cosine``, ``step``, ``exponential``;
  ``p``, ``pi``, ``pid``; ``skywork_adaptive`` (Skywork-OR1 / TRL); ``entropic_pi`` (EntroPIC).
- Actuators (:data:`ACTUATORS`): any :class:`~entropic.control.Control` field, or
  ``pos_neg_weight`` (the pair ``pos_weight = 1 - d``, ``neg_weight = 1 + d``), each with a declared
  direction (effect on entropy of raising it). Feedback laws output an effort ``u``; ``u > 0``
  raises entropy on every actuator.
- Sensors (:data:`entropic.observe.SENSORS`): the Observation key read (``entropy/mean``, ``entropy/top20_mean``, ...),
  optionally smoothed by an exponential moving average.

Everything is vectorised over R independent runs: parameters, state and outputs are tensors ``[R]``.
Importing this package registers every built-in law.
"""

from entropic.controllers import entropic_pi, pid, schedules, skywork  # noqa: F401  (registers the laws)
from entropic.controllers.actuators import ACTUATORS, Actuator, ActuatorSpec
from entropic.controllers.config import ActuatorConfig, ControllerConfig, SensorConfig, controller_config_from_dict
from entropic.controllers.control_laws import CONTROL_LAWS, METRIC_KEYS, Law, register_control_law
from entropic.controllers.controller import EntropyController, build_controller
from entropic.controllers.law_configs import (
    ANTI_WINDUP,
    ConstantConfig,
    EntroPICConfig,
    PIDConfig,
    ScheduleConfig,
    SkyworkConfig,
)
from entropic.controllers.schedules import schedule_value
from entropic.controllers.sensor import Sensor

__all__ = [
    "ACTUATORS", "ANTI_WINDUP", "CONTROL_LAWS", "METRIC_KEYS", "Actuator", "ActuatorConfig", "ActuatorSpec",
    "ConstantConfig", "ControllerConfig", "EntroPICConfig", "EntropyController", "Law", "PIDConfig",
    "ScheduleConfig", "Sensor", "SensorConfig", "SkyworkConfig", "build_controller", "controller_config_from_dict",
    "register_control_law",
    "schedule_value",
]
