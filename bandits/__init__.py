"""Simulators behind the :class:`~entropic.protocol.Backend` protocol: the contextual softmax bandit.

Importing the package registers the Gymnasium environment ``entropic/SoftmaxBandit-v0``.
"""

from entropic.sims.backend import SoftmaxBanditBackend
from entropic.sims.config import BanditConfig
from entropic.sims.factory import make_backend
from entropic.sims.gym_env import ENV_ID, SoftmaxBanditEnv, make_vector_env, register
from entropic.sims.prior import Prior, calibrate, initial_prior
from entropic.sims.task import BanditTask

register()

__all__ = ["ENV_ID", "BanditConfig", "BanditTask", "Prior", "SoftmaxBanditBackend", "SoftmaxBanditEnv", "calibrate",
           "initial_prior", "make_backend", "make_vector_env"]
