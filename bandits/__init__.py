"""Simulators behind the :class:`~entropic.protocol.Backend` protocol: the contextual softmax bandit.

Importing the package registers the Gymnasium environment ``entropic/SoftmaxBandit-v0``.
"""

from bandits.backend import SoftmaxBanditBackend
from bandits.config import BanditConfig
from bandits.factory import make_backend
from bandits.gym_env import ENV_ID, SoftmaxBanditEnv, make_vector_env, register
from bandits.prior import Prior, calibrate, initial_prior
from bandits.task import BanditTask

register()

__all__ = ["ENV_ID", "BanditConfig", "BanditTask", "Prior", "SoftmaxBanditBackend", "SoftmaxBanditEnv", "calibrate",
           "initial_prior", "make_backend", "make_vector_env"]
