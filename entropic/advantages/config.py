"""The advantage estimator's configuration (a Hydra structured config)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from entropic.advantages.registry import ADV_ESTIMATORS
from entropic.advantages.seed_scaling import SEED_SCALINGS


@dataclass
class AdvantageConfig:
    """Which advantage estimator turns rewards into advantages, and its constants.

    Attributes
    ----------
    adv_estimator : str
        Registered estimator, by verl ``algorithm.adv_estimator`` name: ``grpo`` (alias
        ``grpo_vectorized``), ``rloo`` (alias ``rloo_vectorized``), ``opo``, ``reinforce_plus_plus``,
        ``reinforce_plus_plus_baseline``, ``gpg``; and entropic's ``reinforce_pm1``,
        ``unlikeliness`` and ``seed_grpo``; ``gae`` (verl's default) reads the values of a critic
        (``Rollout.values``, from a backend with ``critic=true``; :mod:`entropic.advantages.gae`).
        entropic defaults to ``grpo``, which needs none.
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
    seed_alpha : float
        SEED-GRPO's sensitivity to uncertainty (``adv_estimator=seed_grpo``, arXiv 2505.12346): a
        group's advantages are scaled by ``f(seed_alpha * SE / SE_max)``. Range ``[0, 1]`` for the
        ``linear`` and ``focal`` scalings (so that ``f >= 0``), ``>= 0`` for ``exponential``; 0 is
        plain GRPO. Default 1.0 (unverified: the paper's value was not available).
    seed_scaling : str
        SEED-GRPO's ``f``: ``linear`` (``1 - x``, default), ``exponential`` (``exp(-x)``) or
        ``focal`` (``(1 - x)^seed_gamma``); the paper names the three, the forms are unverified
        (:mod:`entropic.advantages.seed_scaling`).
    seed_gamma : float
        Exponent of the ``focal`` scaling, > 0; default 2.0 (focal loss's, unverified).
    lam : float
        verl ``algorithm.lam``: GAE's lambda of the policy's advantages (``adv_estimator=gae``). Range
        ``[0, 1]``, default 1.0 (verl's).
    lam_alpha : float, optional
        VAPO's length-adaptive lambda (arXiv 2504.05118): the policy's lambda of a response of ``L`` tokens
        is ``1 - 1 / (lam_alpha * L)``, clamped to ``[0, 1]``, in place of ``lam``. > 0; ``None`` (default)
        keeps ``lam``. The paper's value is 0.05.
    lam_critic : float, optional
        VAPO's decoupled GAE: the lambda of the critic's returns, ``[0, 1]`` (the paper's is 1.0,
        Monte-Carlo returns). ``None`` (default) uses ``lam``, as verl does.
    """

    adv_estimator: str = "grpo"
    norm_adv_by_std_in_grpo: bool = True
    gamma: float = 1.0
    epsilon: float = 1e-6
    beta_rank: float = 0.5
    seed_alpha: float = 1.0
    seed_scaling: str = "linear"
    seed_gamma: float = 2.0
    lam: float = 1.0
    lam_alpha: float | None = None
    lam_critic: float | None = None

    def __post_init__(self) -> None:
        ADV_ESTIMATORS.get(self.adv_estimator)
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"advantage.gamma must lie in [0, 1], got {self.gamma}")
        if not self.epsilon > 0:
            raise ValueError(f"advantage.epsilon must be > 0, got {self.epsilon}")
        if not 0.0 <= self.beta_rank <= 1.0:
            raise ValueError(f"advantage.beta_rank must lie in [0, 1], got {self.beta_rank}")
        if self.seed_scaling not in SEED_SCALINGS:
            raise ValueError(f"advantage.seed_scaling={self.seed_scaling!r} is not a scaling; allowed values: "
                             f"{list(SEED_SCALINGS)}")
        bounded = self.seed_scaling != "exponential"
        if not (0.0 <= self.seed_alpha <= 1.0 if bounded else 0.0 <= self.seed_alpha < math.inf):
            raise ValueError(f"advantage.seed_alpha must lie in {'[0, 1]' if bounded else '[0, inf)'} with "
                             f"seed_scaling={self.seed_scaling!r}, got {self.seed_alpha}")
        if not 0.0 < self.seed_gamma < math.inf:
            raise ValueError(f"advantage.seed_gamma must be a finite number > 0, got {self.seed_gamma}")
        for name in ("lam", "lam_critic"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"advantage.{name} must lie in [0, 1]{' or be null' if name == 'lam_critic' else ''}, "
                                 f"got {value}")
        if self.lam_alpha is not None and not 0.0 < self.lam_alpha < math.inf:
            raise ValueError(f"advantage.lam_alpha must be a finite number > 0 or null, got {self.lam_alpha}")
