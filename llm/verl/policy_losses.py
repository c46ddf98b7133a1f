"""entropic's policy losses in verl's registry: ``actor.policy_loss.loss_mode=entropic_<name>``.

Every loss of :data:`entropic.objectives.POLICY_LOSSES` (``vanilla``, ``clip_cov``, ``kl_cov``, ``gspo``,
``gpg``, ``reinforce``) is registered with verl's ``register_policy_loss`` under ``entropic_<name>`` when
this module is imported (the ``verl.plugins`` entry point does it in every process). Each evaluates
entropic's objective with that policy loss alone, its knobs read from verl's actor config
(:func:`~entropic.llm.verl.knobs.control_from_actor`), and normalises it as verl does
(:func:`~entropic.llm.verl.evaluate.evaluate`), so ``entropic_vanilla`` equals verl's ``vanilla`` in
value and gradient under every ``loss_agg_mode``.

verl passes a policy loss neither the entropy nor the reference log-probs, nor the step: the entropy
bonus, top-entropy selection, KL terms and a controller's per-step knobs go through the whole-loss hook
(:mod:`entropic.llm.verl.loss_hook`). verl's rollout-correction weights (``rollout_is_weights``) have no
counterpart in entropic's objective and are refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import torch
from verl.trainer.ppo.core_algos import register_policy_loss

from entropic.llm.verl.evaluate import AGGREGATED, evaluate, policy_batch
from entropic.llm.verl.knobs import control_from_actor
from entropic.llm.verl.routes import PREFIX
from entropic.objectives import POLICY_LOSSES, Objective, ObjectiveConfig


@lru_cache(maxsize=64)
def objective_for(policy_loss: str, loss_agg_mode: str, loss_scale_factor: float | None) -> Objective:
    """The objective made of ``policy_loss`` alone (cached: verl calls the loss once per micro-batch)."""
    return Objective(ObjectiveConfig(policy_loss=policy_loss, loss_agg_mode=loss_agg_mode,
                                     loss_scale_factor=loss_scale_factor))


def refuse_rollout_weights(rollout_is_weights: torch.Tensor | None) -> None:
    """Raise ``ValueError`` when verl passes rollout-correction weights, which entropic's objective lacks."""
    if rollout_is_weights is not None:
        raise ValueError("algorithm.rollout_correction weights (rollout_is_weights) have no route through "
                         "entropic's objective; disable algorithm.rollout_correction or use a native verl loss")


def make_policy_loss(name: str) -> Callable[..., tuple[torch.Tensor, dict[str, float]]]:
    """verl's policy-loss function for entropic's policy loss ``name``."""
    POLICY_LOSSES.get(name)

    def policy_loss(old_log_prob: torch.Tensor, log_prob: torch.Tensor, advantages: torch.Tensor,
                    response_mask: torch.Tensor, loss_agg_mode: str = "token-mean",
                    config: Mapping[str, Any] | None = None,
                    rollout_is_weights: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """entropic's policy loss on verl's ``[B, T]`` tensors: ``(loss [], metrics)``, verl's signature."""
        if config is None:
            raise ValueError(f"policy loss {PREFIX}{name} needs verl's actor config (config=None)")
        refuse_rollout_weights(rollout_is_weights)
        global_info = config.get("global_batch_info") or {}
        objective = objective_for(name, loss_agg_mode, global_info.get("loss_scale_factor"))
        loss, metrics = evaluate(objective, policy_batch(old_log_prob, log_prob, advantages, response_mask),
                                 control_from_actor(config), global_info)
        return loss, {key: value for key, value in metrics.items() if key not in AGGREGATED}

    policy_loss.__name__ = policy_loss.__qualname__ = f"{PREFIX}{name}"
    return policy_loss


for _name in POLICY_LOSSES.names():
    register_policy_loss(PREFIX + _name)(make_policy_loss(_name))
