"""The simulators' critics (VAPO's value model, arXiv 2504.05118): one learned value per run.

- :class:`TabularCritic` (the bandit): a table ``V [R, P, T]``, 0 at the start. With one position
  (``seq_len = 1``) ``V[r, p]`` is the value of prompt p, whose fixed point under Monte-Carlo returns is
  the prompt's expected reward under run r's policy. With several positions the table ignores the
  prefix: ``V[r, p, t]`` is the mean return after position t, a state aggregation.
- :class:`LinearCritic` (the toy LM): a linear head ``w . h + b`` (``w [R, C]``, ``b [R]``, 0 at the
  start) on the policy's last hidden state ``h`` before each response token, detached
  (``Rollout.extras["critic_features"]``): the critic reads the policy's features and never moves them.

Each is trained by its own optimiser of the backend's kind (at ``critic_lr``, or a default), clipped by
``max_grad_norm``, on the clipped value loss. Reads and gradients keep runs apart as the policy's do:
gathers whose backward adds each entry's gradients in row order, and per-run optimiser steps, so a run's
critic is the same alone or batched.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import torch

from entropic.critic import value_loss
from entropic.protocol import Rollout
from entropic.sims.optim import SGD, Adam, backward_per_run, step_per_run
from entropic.sims.rows import position_index
from entropic.sims.runs import restore_params

if TYPE_CHECKING:
    from entropic.sims.config import BanditConfig
    from entropic.sims.toy_lm.config import ToyLMConfig

FEATURES = "critic_features"
"""``Rollout.extras`` key of the toy LM's detached hidden states ``[B, T, C]``, the linear critic's input."""


def optimiser_of(config: BanditConfig | ToyLMConfig, default_lr: float) -> dict[str, Any]:
    """The critic's optimiser settings from a simulator's config: its kind, Adam's constants, ``critic_lr``
    (``default_lr`` when null), ``max_grad_norm`` and ``cliprange_value``."""
    return {"optimizer": config.optimizer, "adam": (config.adam_beta1, config.adam_beta2, config.adam_eps),
            "lr": default_lr if config.critic_lr is None else config.critic_lr,
            "max_grad_norm": config.max_grad_norm, "cliprange_value": config.cliprange_value}


class _Critic(ABC):
    """Parameters ``[R, ...]``, their per-run optimiser and learning rate; a subclass predicts ``V``."""

    def __init__(self, params: dict[str, torch.Tensor], optimizer: str, adam: tuple[float, float, float],
                 lr: float, max_grad_norm: float | None, cliprange_value: float) -> None:
        self.params = params
        self.optimizer = Adam(list(params.values()), *adam) if optimizer == "adam" else SGD()
        num_runs, dtype = next(iter(params.values())).shape[0], next(iter(params.values())).dtype
        self.num_runs = num_runs
        self.lr = torch.full((num_runs,), float(lr), dtype=dtype)
        self.max_grad_norm, self.cliprange_value = max_grad_norm, cliprange_value

    @abstractmethod
    def predict(self, rollout: Rollout) -> torch.Tensor:
        """``V`` ``[B, T]`` of the rollout's rows (with grad when enabled)."""

    def update(self, rollout: Rollout, returns: torch.Tensor) -> dict[str, torch.Tensor]:
        """One optimiser step of every run's critic on its clipped value loss towards ``returns [B, T]``.

        Returns
        -------
        dict[str, FloatTensor [R]]
            ``critic/value_loss``, ``critic/clipfrac``, ``critic/grad_norm`` (before clipping).
        """
        loss, clipfrac = value_loss(self.predict(rollout), rollout.values, returns, rollout.mask,
                                    self.cliprange_value, rollout.run_ids(), self.num_runs)
        backward_per_run(loss, self.num_runs)
        norm = step_per_run(list(self.params.values()), self.optimizer, self.lr, self.max_grad_norm)
        return {"critic/value_loss": loss.detach(), "critic/clipfrac": clipfrac, "critic/grad_norm": norm}

    def state_dict(self) -> dict[str, Any]:
        """The parameters and the optimiser's state."""
        return {"params": {name: p.detach().clone() for name, p in self.params.items()},
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        restore_params(self.params, state["params"], "critic parameter")
        self.optimizer.load_state_dict(state["optimizer"])


class TabularCritic(_Critic):
    """``V [R, P, T]``: a value per run, prompt and position (the bandit's).

    Parameters
    ----------
    num_runs : int
        R.
    shape : tuple[int, int, int]
        The task's ``(P, T, K)``.
    dtype : torch.dtype
        Of the table.
    **optimiser
        ``optimizer``, ``adam``, ``lr``, ``max_grad_norm``, ``cliprange_value`` of :class:`_Critic`.
    """

    def __init__(self, num_runs: int, shape: tuple[int, int, int], dtype: torch.dtype, **optimiser: Any) -> None:
        self.shape = shape
        super().__init__({"table": torch.zeros(num_runs, shape[0], shape[1], dtype=dtype, requires_grad=True)},
                         **optimiser)

    @property
    def table(self) -> torch.Tensor:
        """FloatTensor [R, P, T]: the values."""
        return self.params["table"]

    def values(self, run: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        """``V`` of each row's run and prompt ``[B]`` at every position: ``[B, T]`` (a 1-D ``index_select``)."""
        index = position_index(run, prompts, self.shape)  # [B, T]
        return self.table.reshape(-1).index_select(0, index.reshape(-1)).view(index.shape)

    def predict(self, rollout: Rollout) -> torch.Tensor:
        return self.values(rollout.run_ids(), rollout.prompts)


class LinearCritic(_Critic):
    """``V = w . h + b`` on detached hidden states ``h`` (the toy LM's), ``w [R, C]``, ``b [R]``.

    Parameters
    ----------
    num_runs : int
        R.
    width : int
        C, the hidden size.
    dtype : torch.dtype
        Of the head.
    **optimiser
        As :class:`TabularCritic`.
    """

    def __init__(self, num_runs: int, width: int, dtype: torch.dtype, **optimiser: Any) -> None:
        super().__init__({"w": torch.zeros(num_runs, width, dtype=dtype, requires_grad=True),
                          "b": torch.zeros(num_runs, dtype=dtype, requires_grad=True)}, **optimiser)

    def values(self, features: torch.Tensor, run: torch.Tensor) -> torch.Tensor:
        """``w[run] . h + b[run]`` ``[B, T]`` of features ``h [B, T, C]`` (with grad when enabled)."""
        weight = self.params["w"].index_select(0, run).unsqueeze(1)  # [B, 1, C]
        return (features * weight).sum(-1) + self.params["b"].index_select(0, run).unsqueeze(-1)

    def predict(self, rollout: Rollout) -> torch.Tensor:
        return self.values(rollout.extras[FEATURES], rollout.run_ids())
