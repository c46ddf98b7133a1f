"""``entropic_<name>`` advantage estimators in verl's registry give verl's own advantages."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from verl.trainer.config import AlgoConfig
from verl.trainer.ppo.core_algos import get_adv_estimator_fn

import entropic.llm.verl.advantages  # noqa: F401  (registers entropic_*)
from entropic.advantages import ADV_ESTIMATORS
from entropic.llm.verl.routes import ADAPTER_ADV_ESTIMATORS, NATIVE_ADV_ESTIMATORS, NO_ROUTE_ADV_ESTIMATORS

B, T = 24, 12


def _inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Binary outcome rewards on the last valid token, groups of 4 with string ids, a singleton group."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    mask = (torch.arange(T)[None, :] < lengths[:, None]).float()
    rewards = torch.zeros(B, T)
    rewards[torch.arange(B), lengths - 1] = (torch.rand(B, generator=g) > 0.5).float()
    index = np.array([f"prompt-{i // 4}" for i in range(B - 1)] + ["alone"], dtype=object)
    return rewards, mask, index


@pytest.mark.parametrize("norm", [True, False])
@pytest.mark.parametrize("name", NATIVE_ADV_ESTIMATORS)
def test_registered_estimator_equals_verls(name: str, norm: bool) -> None:
    rewards, mask, index = _inputs(0)
    config = AlgoConfig(adv_estimator=name, norm_adv_by_std_in_grpo=norm, gamma=0.9)
    kwargs = {"token_level_rewards": rewards, "response_mask": mask, "index": index, "config": config}
    if name in ("grpo", "grpo_vectorized"):
        kwargs["norm_adv_by_std_in_grpo"] = norm  # verl's grpo takes it as an argument, not from config
    if name in ("rloo", "rloo_vectorized"):
        index[-1] = index[0]  # verl's two rloo versions differ on a group of one (entropic follows the loop)
    theirs, _ = get_adv_estimator_fn(name)(**{k: v.clone() if isinstance(v, torch.Tensor) else v
                                              for k, v in kwargs.items()})
    kwargs.pop("norm_adv_by_std_in_grpo", None)
    ours, returns = get_adv_estimator_fn(f"entropic_{name}")(**kwargs)
    torch.testing.assert_close(ours, theirs, rtol=2e-5, atol=1e-6)
    torch.testing.assert_close(returns, ours)


def test_reinforce_pm1_runs_through_the_adapter() -> None:
    rewards, mask, index = _inputs(1)
    advantages, _ = get_adv_estimator_fn("entropic_reinforce_pm1")(rewards, mask, index, config=AlgoConfig())
    expected = torch.where(rewards.sum(-1) > 0, 1.0, -1.0)[:, None] * mask
    torch.testing.assert_close(advantages, expected)


def test_every_entropic_estimator_has_a_route_or_a_reason() -> None:
    assert set(ADAPTER_ADV_ESTIMATORS) | set(NO_ROUTE_ADV_ESTIMATORS) == set(ADV_ESTIMATORS.names())
    assert not set(ADAPTER_ADV_ESTIMATORS) & set(NO_ROUTE_ADV_ESTIMATORS)
