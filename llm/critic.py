"""The LLM backend's critic (VAPO's value model, arXiv 2504.05118): a linear value head on the policy's features.

``V = w . h + b`` on the policy's last hidden state ``h`` before each response token, detached
(``Rollout.extras["critic_features"]``, float32): the head reads the policy's features and never moves
them, so the policy trains as it would without a critic. The head starts at 0 and has its own AdamW and
schedule (:func:`entropic.llm.optim.make_optimizer` at ``critic_lr``, or ``lr``), clipped by
``max_grad_norm``, stepped once per :meth:`ValueHead.update` on the clipped value loss. verl's critic is a
whole second model; a head on the policy's features is entropic's lighter choice.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from entropic.critic import value_loss
from entropic.llm.config import HFConfig
from entropic.llm.optim import make_optimizer
from entropic.protocol import Rollout

FEATURES = "critic_features"
"""``Rollout.extras`` key of the detached hidden states ``[B, T, D]`` the head reads."""


class ValueHead:
    """A linear head ``D -> 1`` and its optimiser, one run.

    Parameters
    ----------
    config : HFConfig
        ``critic_lr`` (or ``lr``), AdamW's constants and schedule, ``max_grad_norm``, ``cliprange_value``.
    width : int
        D, the model's hidden size.
    device : torch.device
        Where the head lives.
    """

    def __init__(self, config: HFConfig, width: int, device: torch.device) -> None:
        self.config = config
        self.head = torch.nn.Linear(width, 1, device=device, dtype=torch.float32)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)
        lr = config.lr if config.critic_lr is None else config.critic_lr
        self.optimizer, self.schedule = make_optimizer(self.head.parameters(), replace(config, lr=lr))

    def values(self, features: torch.Tensor) -> torch.Tensor:
        """``V`` ``[B, T]`` of features ``[B, T, D]`` (with grad when enabled)."""
        return self.head(features).squeeze(-1)

    def update(self, rollout: Rollout, returns: torch.Tensor) -> dict[str, torch.Tensor]:
        """One step of the head on the clipped value loss towards ``returns [B, T]``.

        Returns
        -------
        dict[str, FloatTensor [1]]
            ``critic/value_loss``, ``critic/clipfrac``, ``critic/grad_norm`` (before clipping).
        """
        loss, clipfrac = value_loss(self.values(rollout.extras[FEATURES]), rollout.values, returns,
                                    rollout.mask, self.config.cliprange_value, rollout.run_ids(), 1)
        self.optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        limit = float("inf") if self.config.max_grad_norm is None else self.config.max_grad_norm
        norm = torch.nn.utils.clip_grad_norm_(self.head.parameters(), limit)
        self.optimizer.step()
        self.schedule.step()
        return {"critic/value_loss": loss.detach(), "critic/clipfrac": clipfrac,
                "critic/grad_norm": norm.detach().reshape(1)}

    def state_dict(self) -> dict[str, Any]:
        """The head, its optimiser and schedule."""
        return {"head": self.head.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.head.load_state_dict(state["head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
