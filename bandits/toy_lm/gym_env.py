"""Gymnasium view of a toy-LM task: the language model is the agent, one token is one action.

``entropic/ToyLM-v0`` (registered when :mod:`entropic.sims.toy_lm` is imported; ``gym.make(
"entropic.sims.toy_lm:entropic/ToyLM-v0")`` imports it) is a single-episode-per-response environment
for RL code written against Gymnasium; the vectorised training path is
:class:`~entropic.sims.toy_lm.backend.ToyLMBackend`. Problems come from the backend's training set
(``ToyLMConfig.task_seed``), and the reward is the backend's: the verifier's 0/1 with the same
format and overlong shaping.

- observation: the context so far, ``MultiDiscrete([V] * (T_prompt + max_response_len))``: the
  prompt, the response tokens emitted so far, then ``<pad>``;
- action: the next token, ``Discrete(V)``;
- the episode terminates when the action is ``<eos>`` and is truncated when ``max_response_len``
  tokens were emitted without one; the reward is paid on that last step (0 before it);
- ``info`` on the last step: ``correct``, ``well_formed``, ``response`` (the text).

The environment owns its ``np.random.Generator`` (``self.np_random``), seeded by ``reset(seed=...)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from entropic.sims.toy_lm.config import ToyLMConfig
from entropic.sims.toy_lm.tasks import EOS, PAD, VOCAB, Dataset, decode, response_text, shaped_reward

ENV_ID = "entropic/ToyLM-v0"


class ToyLMEnv(gym.Env):
    """One response to one problem per episode, token by token.

    Parameters
    ----------
    config : ToyLMConfig, optional
        Task, ``max_response_len``, reward shaping, ``num_train_problems``, ``task_seed``.
    **overrides
        Fields of :class:`ToyLMConfig` replacing those of ``config`` (or of the defaults), so
        ``gym.make(ENV_ID, task="sort")`` works.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, config: ToyLMConfig | None = None, **overrides: Any) -> None:
        config = dataclasses.replace(config if config is not None else ToyLMConfig(), **overrides)
        self.config = config
        self.task = config.make_task()
        self.dataset = Dataset.build(self.task, config.num_train_problems, config.task_seed)
        self._length = self.task.prompt_len + config.max_response_len
        self.observation_space = spaces.MultiDiscrete(np.full(self._length, len(VOCAB), dtype=np.int64))
        self.action_space = spaces.Discrete(len(VOCAB))
        self._context: np.ndarray | None = None
        self._problem = 0
        self._emitted = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode on a uniformly drawn training problem (or ``options["problem"]``, an index)."""
        super().reset(seed=seed)
        n = len(self.dataset)
        if options is not None and "problem" in options:
            problem = int(options["problem"])
            if not 0 <= problem < n:
                raise ValueError(f"options['problem'] must lie in [0, {n}), got {problem}")
        else:
            problem = int(self.np_random.integers(n))
        self._problem, self._emitted = problem, 0
        self._context = np.full(self._length, PAD, dtype=np.int64)
        self._context[:self.task.prompt_len] = self.dataset.prompts[problem].numpy()
        return self._context.copy(), {"problem": problem, "prompt": self.dataset.problems[problem].prompt}

    def step(self, action: int | np.integer) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Append token ``action``; verify and pay the reward when the response ends."""
        if self._context is None:
            raise RuntimeError("call reset() before step(), and again after the episode ends")
        token = int(action)
        if not 0 <= token < len(VOCAB):
            raise ValueError(f"action must be a token id in [0, {len(VOCAB)}), got {token}")
        self._context[self.task.prompt_len + self._emitted] = token
        self._emitted += 1
        terminated = token == EOS
        truncated = not terminated and self._emitted == self.config.max_response_len
        observation = self._context.copy()
        if not (terminated or truncated):
            return observation, 0.0, False, False, {}
        ids = self._context[self.task.prompt_len:self.task.prompt_len + self._emitted].tolist()
        text = response_text(ids)
        verdict = self.task.verify(self.dataset.problems[self._problem], text)
        config = self.config
        reward = shaped_reward(torch.tensor([verdict.correct]), torch.tensor([verdict.well_formed]),
                               torch.tensor([float(self._emitted)], dtype=torch.float64), config.max_response_len,
                               config.format_penalty, config.overlong_buffer_len, config.overlong_penalty_factor)
        self._context = None
        return observation, float(reward[0]), terminated, truncated, {
            "correct": verdict.correct, "well_formed": verdict.well_formed, "response": decode(ids)}


def make_vector_env(num_envs: int, config: ToyLMConfig | None = None, **overrides: Any) -> gym.vector.VectorEnv:
    """``num_envs`` copies in a :class:`gymnasium.vector.SyncVectorEnv` (next-step autoreset)."""
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="sync", config=config, **overrides)


def register() -> None:
    """Register :data:`ENV_ID` with Gymnasium (once)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="entropic.sims.toy_lm.gym_env:ToyLMEnv")
