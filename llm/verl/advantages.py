"""entropic's advantage estimators in verl's registry: ``algorithm.adv_estimator=entropic_<name>``.

Every estimator of :data:`~entropic.llm.verl.routes.ADAPTER_ADV_ESTIMATORS` is registered with verl's
``register_adv_est`` when this module is imported (the ``verl.plugins`` entry point does it in every
process). verl calls an estimator with the token-level rewards, the response mask, the prompt id of
each response (``index``) and ``algorithm`` (its ``AlgoConfig``); the estimator builds a one-run
:class:`~entropic.protocol.Rollout` of them and calls :func:`entropic.advantages.compute_advantages`,
with ``norm_adv_by_std_in_grpo`` and ``gamma`` from ``algorithm`` and entropic's other constants at their
defaults (``epsilon = 1e-6`` is verl's). It returns the advantages twice, as verl's outcome estimators do
(the second value, ``returns``, is read only by a critic).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from verl.trainer.ppo.core_algos import register_adv_est

from entropic.advantages import ADV_ESTIMATORS, AdvantageConfig, compute_advantages
from entropic.llm.verl.routes import ADAPTER_ADV_ESTIMATORS, PREFIX
from entropic.protocol import Rollout


def verl_rollout(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, index: np.ndarray) -> Rollout:
    """A one-run rollout of verl's estimator inputs: rewards and mask ``[B, T]``, prompt ids ``[B]`` (any type)."""
    _, group = np.unique(np.asarray(index), return_inverse=True)
    mask = response_mask.to(token_level_rewards.dtype)
    return Rollout(tokens=torch.zeros(mask.shape, dtype=torch.long, device=mask.device), mask=mask,
                   rewards=token_level_rewards, group=torch.as_tensor(group.reshape(-1), device=mask.device),
                   old_log_probs=torch.zeros_like(mask))


def make_estimator(name: str) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """verl's advantage-estimator function for entropic's estimator ``name``."""
    ADV_ESTIMATORS.get(name)

    def estimator(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, index: np.ndarray,
                  config: Mapping[str, Any] | None = None, **unused: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Advantages ``[B, T]`` (twice) of entropic's estimator on verl's inputs."""
        settings = {} if config is None else {"norm_adv_by_std_in_grpo": config.get("norm_adv_by_std_in_grpo"),
                                              "gamma": config.get("gamma")}
        advantage_config = AdvantageConfig(adv_estimator=name,
                                           **{k: v for k, v in settings.items() if v is not None})
        advantages = compute_advantages(verl_rollout(token_level_rewards, response_mask, index), advantage_config)
        return advantages, advantages

    estimator.__name__ = estimator.__qualname__ = f"{PREFIX}{name}"
    return estimator


for _name in ADAPTER_ADV_ESTIMATORS:
    register_adv_est(PREFIX + _name)(make_estimator(_name))
