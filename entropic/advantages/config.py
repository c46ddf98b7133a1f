"""The advantage estimator's configuration (a Hydra structured config)."""

from __future__ import annotations

from dataclasses import dataclass

from entropic.advantages.registry import ADV_ESTIMATORS


@dataclass
class AdvantageConfig:
    """Which advantage estimator turns rewards into advantages, and its constants.

    Attributes
    ----------
    adv_estimator : str
        Registered estimator, by verl ``algorithm.adv_estimator`` name: ``grpo`` (alias
        ``grpo_vectorized``), ``rloo`` (alias ``rloo_vectorized``), ``opo``, ``reinforce_plus_plus``,
        ``reinforce_plus_plus_baseline``, ``gpg``; and entropic's ``reinforce_pm1`` and
        ``unlikeliness``. verl's default is ``gae``, which needs a critic (value model); entropic has
        no critic and defaults to ``grpo``.
    norm_adv_by_std_in_grpo : bool
        verl ``algorithm.norm_adv_by_std_in_grpo``: divide GRPO advantages by the group std
        (default True, original GRPO); False is Dr.GRPO.
    gamma : float
        verl ``algorithm.gamma``: discount of the REINFORCE++ token returns. Range ``[0, 1]``, default 1.0.
    epsilon : float
        Guard of the GRPO std, ``(s - mu) / (sigma + epsilon)``; > 0. Default 1e-6 as in verl's
        ``compute_grpo_outcome_advantage``; TRL adds 1e-4 instead.
    beta_rank : float
        Rank penalty of the unlikeliness reward (``adv_estimator=unlikeliness``, arXiv 2506.02355): the
        reward of a correct response of likelihood rank ``k`` in a group of G is scaled by
        ``1 - beta_rank (G - 1 - k) / G`` (rank 0 = most likely). Range ``[0, 1]`` (0 = plain GRPO),
        default 0.5: the paper's value is unverified, 0.5 is a third-party implementation's default.
        Read by that estimator only.
    """

    adv_estimator: str = "grpo"
    norm_adv_by_std_in_grpo: bool = True
    gamma: float = 1.0
    epsilon: float = 1e-6
    beta_rank: float = 0.5

    def __post_init__(self) -> None:
        ADV_ESTIMATORS.get(self.adv_estimator)
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"advantage.gamma must lie in [0, 1], got {self.gamma}")
        if not self.epsilon > 0:
            raise ValueError(f"advantage.epsilon must be > 0, got {self.epsilon}")
        if not 0.0 <= self.beta_rank <= 1.0:
            raise ValueError(f"advantage.beta_rank must lie in [0, 1], got {self.beta_rank}")
