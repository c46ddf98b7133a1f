"""entropic: controller-theory simulation and tuning of entropy control in RL for LLMs.

The core package: the step protocol, advantage estimators, objectives, controllers,
metrics and the shared training loop, which need torch only. Around them: the run log writes
TensorBoard event files (``tensorboard``), :meth:`entropic.loop.Trainer.fit` shows a ``tqdm``
progress bar, configs are composed and checked with Hydra and OmegaConf (``entropic.experiment``,
``entropic.cli``), and the claim analysis ``entropic.laws`` uses numpy and matplotlib. It imports
none of its mapped sub-packages ``entropic.sims`` (the simulators, folder ``bandits/``),
``entropic.llm`` (``llm/``) or ``entropic.tuning`` (``tuning/``); ``entropic.configs``
(``configs/``) is the Hydra config tree.
"""

from entropic.control import Control
from entropic.protocol import Backend, Controller, Observation, Rollout, TokenStats

__all__ = ["Backend", "Control", "Controller", "Observation", "Rollout", "TokenStats"]
__version__ = "0.1.0"
