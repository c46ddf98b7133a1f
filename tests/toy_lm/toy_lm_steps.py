"""Tiny toy-LM settings and the five-move step (the shared loop minus its logging), for the toy-LM tests."""

from __future__ import annotations

import torch

from entropic.advantages import AdvantageConfig, compute_advantages
from entropic.control import Control
from entropic.objectives import Objective, ObjectiveConfig, PolicyBatch
from entropic.sims.toy_lm import ToyLMBackend

GRPO = AdvantageConfig(adv_estimator="grpo")
TINY = dict(num_digits=1, n_layer=2, n_head=2, n_embd=32, init_accuracy=0.3, init_entropy=1.2, pretrain_steps=600,
            num_train_problems=512, num_eval_problems=32, eval_samples=4, eval_k=[1, 4], num_prompts=4,
            group_size=4, lr=5e-4)
"""One-digit addition, a 2-layer width-32 model: pretrains in seconds."""
QUICK_PRETRAIN = dict(init_accuracy=None, init_entropy=None, pretrain_steps=20)
"""A barely trained warm start, for tasks whose tests need no skill (sort, countdown)."""


def train(backend: ToyLMBackend, steps: int, objective: Objective | None = None,
          control: Control | None = None, advantage: AdvantageConfig = GRPO) -> torch.Tensor:
    """Run ``steps`` on-policy steps (GRPO advantages by default); returns the per-run losses ``[steps, R]``."""
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
