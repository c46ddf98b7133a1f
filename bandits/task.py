"""The task instance shared by every run: correct arms, prompt difficulty, prior shape, features.

Everything here is drawn from one ``torch.Generator`` seeded with ``BanditConfig.task_seed``, in a
fixed order (correct sets, prior noise, difficulty, then the parameterisation's tensors), so two
configurations that differ only in training knobs get the same task. The verifier is exact: a
response is correct iff every token lies in its position's correct set; its reward is 1 with
probability ``reward_correct`` (correct) or ``reward_wrong`` (wrong).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from entropic.sims.config import BanditConfig


@dataclass(frozen=True)
class BanditTask:
    """The fixed part of a bandit problem (float64, CPU).

    Attributes
    ----------
    correct : BoolTensor [P, T, K]
        Correct arms of each prompt and position (``num_correct`` per row).
    prior_noise : DoubleTensor [P, T, K]
        Standard-normal shape of the initial logits (scaled by the calibration).
    difficulty : DoubleTensor [P]
        Standardised difficulty score (mean 0, std 1 over prompts; 0 when P = 1): the prompt's
        correct-arm logit offset is lowered by ``difficulty_spread * difficulty``.
    features : DoubleTensor [P, D], optional
        Unit-norm prompt features of the ``features`` parameterisation.
    low_rank_init : DoubleTensor [P, D], optional
        Initial ``U`` of the ``low_rank`` parameterisation (entries N(0, 1/D)).
    reward_correct, reward_wrong : float
        Reward probabilities of correct and wrong responses.
    """

    correct: torch.Tensor
    prior_noise: torch.Tensor
    difficulty: torch.Tensor
    features: torch.Tensor | None
    low_rank_init: torch.Tensor | None
    reward_correct: float
    reward_wrong: float

    @classmethod
    def from_config(cls, config: BanditConfig) -> BanditTask:
        """Draw the task instance of ``config.task_seed``."""
        P, T, K, D = config.num_prompts, config.seq_len, config.num_arms, config.rank
        gen = torch.Generator().manual_seed(config.task_seed)
        f64 = torch.float64
        order = torch.argsort(torch.rand(P, T, K, generator=gen, dtype=f64), dim=-1)
        correct = torch.zeros(P, T, K, dtype=torch.bool).scatter(-1, order[..., :config.num_correct], True)
        prior_noise = torch.randn(P, T, K, generator=gen, dtype=f64)
        difficulty = torch.randn(P, generator=gen, dtype=f64)
        difficulty = (difficulty - difficulty.mean()) / difficulty.std() if P > 1 else torch.zeros(1, dtype=f64)
        features = low_rank_init = None
        if config.parameterization == "features":
            x = torch.randn(P, D, generator=gen, dtype=f64)
            features = x / x.norm(dim=-1, keepdim=True)
        elif config.parameterization == "low_rank":
            low_rank_init = torch.randn(P, D, generator=gen, dtype=f64) / math.sqrt(D)
        return cls(correct, prior_noise, difficulty, features, low_rank_init, config.reward_correct,
                   config.reward_wrong)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(P, T, K)``."""
        P, T, K = self.correct.shape
        return P, T, K

    def is_correct(self, prompts: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Noise-free verdict of each response.

        Parameters
        ----------
        prompts : LongTensor [B]
            Prompt id of each response.
        tokens : LongTensor [B, T]
            Arm of each position.

        Returns
        -------
        BoolTensor [B]
            True iff every token is in its position's correct set.
        """
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        return self.correct.to(tokens.device)[prompts.unsqueeze(-1), positions, tokens].all(-1)

    def pay_probability(self, correct: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Probability ``[...]`` that a response with verdict ``correct`` (bool ``[...]``) earns reward 1."""
        return torch.where(correct, torch.tensor(self.reward_correct, dtype=dtype),
                           torch.tensor(self.reward_wrong, dtype=dtype))

    def expected_reward(self, correct_probability: torch.Tensor) -> torch.Tensor:
        """Expected reward ``q c + eps (1 - c)`` of a policy whose response is correct with probability ``c``."""
        return self.reward_correct * correct_probability + self.reward_wrong * (1.0 - correct_probability)
