"""The Gymnasium view: registration, the env checker, token-by-token episodes, the shared verifier and reward."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from entropic.sims.toy_lm import ENV_ID, ToyLMConfig, ToyLMEnv, make_vector_env
from entropic.sims.toy_lm.tasks import EOS, PAD, encode

SMALL = dict(num_digits=1, num_train_problems=64)


def _respond(env: ToyLMEnv, text: str, eos: bool = True) -> tuple[np.ndarray, float, bool, bool, dict]:
    result = None
    for token in [*encode(text), *([EOS] if eos else [])]:
        result = env.step(token)
        if result[2] or result[3]:
            break
    return result


def test_registered_env_passes_the_env_checker() -> None:
    env = gym.make(ENV_ID, **SMALL)
    check_env(env.unwrapped)
    assert env.action_space == gym.spaces.Discrete(24)
    assert env.observation_space.shape == (env.unwrapped.task.prompt_len + env.unwrapped.config.max_response_len,)


def test_episode_pays_the_verifier_on_eos() -> None:
    env = ToyLMEnv(**SMALL)
    observation, info = env.reset(seed=0, options={"problem": 3})
    problem = env.dataset.problems[3]
    assert info["prompt"] == problem.prompt and observation[env.task.prompt_len] == PAD
    first = env.step(encode(problem.answer)[0])
    assert first[1:4] == (0.0, False, False)
    env.reset(options={"problem": 3})
    observation, reward, terminated, truncated, info = _respond(env, problem.answer)
    assert (reward, terminated, truncated, info["correct"], info["well_formed"]) == (1.0, True, False, True, True)
    assert observation[env.task.prompt_len + len(problem.answer)] == EOS
    env.reset(options={"problem": 3})
    wrong = str((problem.target + 1) % 10)
    assert _respond(env, wrong)[1] == 0.0


def test_running_out_of_length_truncates_with_the_overlong_and_format_penalties() -> None:
    env = ToyLMEnv(**SMALL, format_penalty=0.5, overlong_buffer_len=2)
    env.reset(seed=1)
    _, reward, terminated, truncated, info = _respond(env, "1" * env.config.max_response_len, eos=False)
    assert truncated and not terminated and not info["well_formed"]
    assert reward == pytest.approx(-0.5 - 1.0)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(EOS)


def test_seeded_resets_replay_and_problems_are_the_backend_training_set() -> None:
    env = ToyLMEnv(ToyLMConfig(**SMALL))
    first = [env.reset(seed=5)[1]["problem"]] + [env.reset()[1]["problem"] for _ in range(20)]
    second = [env.reset(seed=5)[1]["problem"]] + [env.reset()[1]["problem"] for _ in range(20)]
    assert first == second and len(set(first)) > 1
    with pytest.raises(ValueError, match=r"options\['problem'\] must lie in \[0, 64\)"):
        env.reset(options={"problem": 64})


def test_vector_env_and_module_prefixed_make() -> None:
    envs = make_vector_env(3, **SMALL)
    observations, _ = envs.reset(seed=0)
    assert observations.shape == (3, envs.single_observation_space.shape[0])
    observations, rewards, terminated, truncated, _ = envs.step(np.full(3, EOS))
    assert terminated.all() and (rewards == 0.0).all()  # an empty response is malformed
    envs.close()
    assert isinstance(gym.make("entropic.sims.toy_lm:" + ENV_ID, **SMALL).unwrapped, ToyLMEnv)
