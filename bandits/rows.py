"""Where each rollout row comes from: its run, prompt and (in exact mode) response, and flat indices.

Rows are laid out run by run, prompt by prompt: row ``b = (r * P + p) * n + j`` is response ``j``
of prompt ``p`` in run ``r``. Sampled mode has ``n = G`` draws. Exact mode enumerates the ``K^T``
responses once each; with reward noise each response appears twice, paid (reward 1, outcome
weight ``pay``) then unpaid (reward 0, outcome weight ``1 - pay``), so that a weighted group
statistic is the expectation over the verifier's coin too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from entropic.sims.config import BanditConfig
from entropic.sims.task import BanditTask


@dataclass(frozen=True)
class RowLayout:
    """The fixed columns of a backend's rollouts.

    Attributes
    ----------
    run, prompts : LongTensor [B]
        Run and prompt id of each row.
    tokens : LongTensor [B, T], optional
        Exact mode: the enumerated response of each row (``None`` when sampled).
    correct : BoolTensor [B], optional
        Exact mode: noise-free verdict of each row.
    rewards : FloatTensor [B], optional
        Exact mode: reward of each row (the pay probability without noise, 1 / 0 with it).
    outcome_weight : FloatTensor [B], optional
        Exact mode: probability of the row's reward given its response (1 without noise).
    """

    run: torch.Tensor
    prompts: torch.Tensor
    tokens: torch.Tensor | None = None
    correct: torch.Tensor | None = None
    rewards: torch.Tensor | None = None
    outcome_weight: torch.Tensor | None = None

    @classmethod
    def build(cls, config: BanditConfig, task: BanditTask, num_runs: int) -> RowLayout:
        """The layout of ``config.mode`` for ``num_runs`` runs."""
        R, (P, T, K) = num_runs, task.shape
        if config.mode == "sampled":
            n = config.group_size
            return cls(torch.arange(R).repeat_interleave(P * n), torch.arange(P).repeat_interleave(n).repeat(R))
        outcomes = 2 if task.reward_correct < 1.0 or task.reward_wrong > 0.0 else 1
        responses = torch.cartesian_prod(*[torch.arange(K)] * T).reshape(-1, T)  # [K^T, T]
        n = responses.shape[0] * outcomes
        run = torch.arange(R).repeat_interleave(P * n)
        prompts = torch.arange(P).repeat_interleave(n).repeat(R)
        tokens = responses.repeat_interleave(outcomes, dim=0).repeat(R * P, 1)
        correct = task.is_correct(prompts, tokens)
        pay = task.pay_probability(correct, config.torch_dtype)
        if outcomes == 1:
            return cls(run, prompts, tokens, correct, pay, torch.ones_like(pay))
        paid = torch.arange(run.numel()) % 2 == 0
        return cls(run, prompts, tokens, correct, paid.to(pay.dtype), torch.where(paid, pay, 1.0 - pay))


def position_index(run: torch.Tensor, prompts: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """LongTensor [B, T]: flat index of each row's (run, prompt, position) in ``[R * P * T]``.

    ``shape`` is the task's ``(P, T, K)``.
    """
    P, T, _ = shape
    return (run * P + prompts).unsqueeze(-1) * T + torch.arange(T, device=run.device)


def token_index(run: torch.Tensor, prompts: torch.Tensor, tokens: torch.Tensor,
                shape: tuple[int, int, int]) -> torch.Tensor:
    """LongTensor [B, T]: flat index of each token's logit in ``[R * P * T * K]`` (``run = 0`` for ``[P * T * K]``)."""
    return position_index(run, prompts, shape) * shape[2] + tokens
