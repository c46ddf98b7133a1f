"""The Gymnasium environment: registration, the env checker, the verifier, seeding, the vector env."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from entropic.sims import ENV_ID, BanditConfig, BanditTask, SoftmaxBanditEnv, make_vector_env

SMALL = dict(num_prompts=5, num_arms=6, num_correct=2, init_entropy=1.2)


@pytest.mark.parametrize("seq_len", [1, 3])
def test_registered_env_passes_the_env_checker(seq_len: int) -> None:
    env = gym.make(ENV_ID, seq_len=seq_len, **SMALL)
    check_env(env.unwrapped)
    expected = gym.spaces.Discrete(6) if seq_len == 1 else gym.spaces.MultiDiscrete([6] * 3)
    assert env.action_space == expected and env.observation_space == gym.spaces.Discrete(5)


def test_reward_is_the_verifier_of_the_shared_task() -> None:
    config = BanditConfig(**SMALL)
    correct = BanditTask.from_config(config).correct[:, 0].numpy()
    env = SoftmaxBanditEnv(config)
    for prompt in range(5):
        for arm in range(6):
            env.reset(seed=prompt, options={"prompt": prompt})
            obs, reward, terminated, truncated, info = env.step(arm)
            assert obs == prompt and terminated and not truncated
            assert reward == float(correct[prompt, arm]) and info["correct"] == bool(correct[prompt, arm])


def test_reward_noise_rates() -> None:
    env = SoftmaxBanditEnv(reward_correct=0.7, reward_wrong=0.2, **SMALL)
    correct = BanditTask.from_config(env.config).correct[0, 0].numpy()
    right, wrong = int(np.flatnonzero(correct)[0]), int(np.flatnonzero(~correct)[0])
    env.reset(seed=0)
    for arm, rate in ((right, 0.7), (wrong, 0.2)):
        rewards = []
        for _ in range(4000):
            env.reset(options={"prompt": 0})
            rewards.append(env.step(arm)[1])
        assert abs(np.mean(rewards) - rate) < 5 * (rate * (1 - rate) / 4000) ** 0.5


def test_seeded_resets_replay_and_step_needs_reset() -> None:
    env = SoftmaxBanditEnv(**SMALL)
    first = [env.reset(seed=3)[0]] + [env.reset()[0] for _ in range(20)]
    second = [env.reset(seed=3)[0]] + [env.reset()[0] for _ in range(20)]
    assert first == second and len(set(first)) > 1
    env.step(0)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(0)
    with pytest.raises(ValueError, match=r"options\['prompt'\] must lie in \[0, 5\)"):
        env.reset(options={"prompt": 5})


def test_vector_env_pulls_every_step() -> None:
    envs = make_vector_env(8, **SMALL)
    assert isinstance(envs, gym.vector.SyncVectorEnv)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (8,)
    for _ in range(3):
        obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
        assert terminated.all() and not truncated.any() and reward.shape == (8,)
        assert envs.observation_space.contains(obs)
    envs.close()
