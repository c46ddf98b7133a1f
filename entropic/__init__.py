"""entropic: controller-theory simulation and tuning of entropy control in RL for LLMs.

The core package: the step protocol, advantage estimators, objectives, controllers,
metrics and the shared training loop. It depends on torch and numpy only and imports
none of ``bandits``, ``llm`` or ``tuning``.
"""

from entropic.control import Control
from entropic.protocol import Backend, Controller, Observation, Rollout, TokenStats

__all__ = ["Backend", "Control", "Controller", "Observation", "Rollout", "TokenStats"]
__version__ = "0.1.0"
