"""Gymnasium view of the bandit task: one prompt, one response, one verifiable reward per episode.

``entropic/SoftmaxBandit-v0`` (registered when :mod:`entropic.sims` is imported) is a single-run
environment for RL code written against Gymnasium; the vectorised training path is
:class:`~entropic.sims.backend.SoftmaxBanditBackend`. The task instance (correct arms, reward
probabilities) is the one of ``BanditConfig.task_seed``, so a policy trained here and a backend run
face the same problem.

- observation: the prompt id, ``Discrete(P)``, drawn uniformly at reset;
- action: the response, an arm ``Discrete(K)`` (``MultiDiscrete([K] * T)`` when ``seq_len > 1``);
- reward: 1 with probability ``reward_correct`` if the response is correct, ``reward_wrong`` if not;
- every episode ends after its one step (``terminated=True``); ``info["correct"]`` is the verdict.

The environment owns its ``np.random.Generator`` (``self.np_random``), seeded by ``reset(seed=...)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from entropic.sims.config import BanditConfig
from entropic.sims.task import BanditTask

ENV_ID = "entropic/SoftmaxBandit-v0"


class SoftmaxBanditEnv(gym.Env):
    """The contextual bandit as a one-step episodic Gymnasium environment.

    Parameters
    ----------
    config : BanditConfig, optional
        The task (``num_prompts``, ``num_arms``, ``num_correct``, ``seq_len``, rewards, ``task_seed``).
    **overrides
        Fields of :class:`BanditConfig` replacing those of ``config`` (or of the defaults), so
        ``gym.make(ENV_ID, num_arms=16)`` works.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, config: BanditConfig | None = None, **overrides: Any) -> None:
        config = dataclasses.replace(config if config is not None else BanditConfig(), **overrides)
        self.config = config
        task = BanditTask.from_config(config)
        self._correct = task.correct.numpy()  # [P, T, K]
        self._pay = (task.reward_wrong, task.reward_correct)
        P, T, K = task.shape
        self.observation_space = spaces.Discrete(P)
        self.action_space = spaces.Discrete(K) if T == 1 else spaces.MultiDiscrete([K] * T)
        self._prompt: int | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.int64, dict]:
        """Start an episode on a uniformly drawn prompt (or ``options["prompt"]``)."""
        super().reset(seed=seed)
        if options is not None and "prompt" in options:
            prompt = int(options["prompt"])
            if not self.observation_space.contains(np.int64(prompt)):
                raise ValueError(f"options['prompt'] must lie in [0, {self.observation_space.n}), got {prompt}")
        else:
            prompt = int(self.np_random.integers(self.observation_space.n))
        self._prompt = prompt
        return np.int64(prompt), {}

    def step(self, action: int | np.ndarray) -> tuple[np.int64, float, bool, bool, dict[str, Any]]:
        """Verify ``action`` for the current prompt; the episode ends here."""
        if self._prompt is None:
            raise RuntimeError("call reset() before step(): each episode is one step")
        tokens = np.atleast_1d(np.asarray(action, dtype=np.int64))
        prompt, T = self._prompt, self._correct.shape[1]
        correct = bool(self._correct[prompt, np.arange(T), tokens].all())
        reward = float(self.np_random.random() < self._pay[int(correct)])
        self._prompt = None
        return np.int64(prompt), reward, True, False, {"correct": correct}


def make_vector_env(num_envs: int, config: BanditConfig | None = None, **overrides: Any) -> gym.vector.VectorEnv:
    """``num_envs`` copies in a :class:`gymnasium.vector.SyncVectorEnv` that resets in the same step.

    With ``AutoresetMode.SAME_STEP`` every ``step`` returns the next episode's prompt as the
    observation (the finished one's is in ``info["final_obs"]``), so each step is one bandit pull.
    """
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}, config=config,
                        **overrides)


def register() -> None:
    """Register :data:`ENV_ID` with Gymnasium (once)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="entropic.sims.gym_env:SoftmaxBanditEnv")
