"""The five-move step on a bandit backend, for the bandit tests (the shared loop minus its logging)."""

from __future__ import annotations

import torch

from entropic.advantages import AdvantageConfig, compute_advantages
from entropic.control import Control
from entropic.objectives import Objective, ObjectiveConfig, PolicyBatch
from entropic.sims import SoftmaxBanditBackend

GRPO = AdvantageConfig(adv_estimator="grpo")


def train(backend: SoftmaxBanditBackend, steps: int, objective: Objective | None = None,
          control: Control | None = None, advantage: AdvantageConfig = GRPO) -> torch.Tensor:
    """Run ``steps`` on-policy steps; returns the per-run losses ``[steps, R]``."""
    objective = objective if objective is not None else Objective(ObjectiveConfig(policy_loss="vanilla"))
    control = control if control is not None else Control()
    losses = []
    for _ in range(steps):
        rollout = backend.rollout()
        advantages = compute_advantages(rollout, advantage)
        stats = backend.score(rollout, entropy="grad" if objective.needs_entropy else "none")
        loss, _ = objective(PolicyBatch.from_step(rollout, stats, advantages), control)
        backend.backward(loss)
        backend.step()
        losses.append(loss.detach())
    return torch.stack(losses)


def loss_and_rollout(backend: SoftmaxBanditBackend, objective: Objective,
                     advantage: AdvantageConfig = GRPO) -> tuple[torch.Tensor, torch.Tensor]:
    """One rollout's per-run loss ``[R]`` (with grad) and its advantages ``[B, T]``."""
    rollout = backend.rollout()
    advantages = compute_advantages(rollout, advantage)
    stats = backend.score(rollout, entropy="grad" if objective.needs_entropy else "none")
    loss, _ = objective(PolicyBatch.from_step(rollout, stats, advantages), Control())
    return loss, advantages
