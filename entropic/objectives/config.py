"""The objective's static configuration (a Hydra structured config)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from entropic.objectives.aggregation import check_agg_mode
from entropic.objectives.kl import check_kl_type


@dataclass
class ObjectiveConfig:
    """Which policy loss, modifiers and extra terms make the objective, and how it aggregates.

    Attributes
    ----------
    policy_loss : str
        Registered policy loss (verl ``policy_loss.loss_mode``): ``vanilla``, ``clip_cov``,
        ``kl_cov``, ``gspo``, ``gpg``, ``reinforce``, ``luffy`` (PPO on samples, LUFFY's shaping on
        demonstrations), ``nsa`` (PPO on BCPG-NSA's advantages: credit on verified steps of wrong responses).
    loss_agg_mode : str
        verl ``loss_agg_mode``: ``token-mean`` (default), ``token-sum``, ``seq-mean-token-sum``,
        ``seq-mean-token-mean``, ``seq-mean-token-sum-norm``.
    loss_scale_factor : float, optional
        Constant normaliser of ``seq-mean-token-sum-norm`` (Dr.GRPO); default ``T``.
    modifiers : list[str]
        Token modifiers multiplying the policy loss: ``sample_weight``, ``top_entropy``,
        ``off_policy_mask``, ``steer``.
    terms : list[str]
        Extra loss terms: ``entropy`` (bonus, ``entropy_coeff``), ``kl`` (verl KL loss,
        ``kl_loss_coef``), ``unbiased_kl`` (DeepSeek-V3.2), ``entropic`` (EntroPIC high-prob term),
        ``sent_kl`` (SENT's KL on low-entropy tokens, ``ppo_kl_coef``, ``kl_cov_ratio``), ``pos_lm``
        (VAPO's NLL of the correct responses, ``pos_lm_coef``).
    kl_loss_type : str
        Estimator of the ``kl`` term (verl ``kl_loss_type``, default ``low_var_kl``).
    steer_weight_min : float
        STEER's lambda_min (``steer`` modifier, arXiv 2510.10150): the weight of the token with the
        largest estimated entropy change of each run's batch; it sets the batch's
        ``k = -log(lambda_min) / max|Omega|``. Range ``(0, 1]`` (1: every weight 1). Default 0.8, the
        authors' released scripts.
    sent_low_entropy_share : float
        SENT's low-entropy tokens (``sent_kl`` term, arXiv 2512.04359): the share of each run's valid
        tokens, those of smallest entropy, that get the KL penalty. Range ``(0, 1]``. Default 0.8, the
        authors' released code.
    sent_high_cov_multiplier : float
        SENT's stronger constraint: the penalty's multiplier on the high-covariance part of the
        low-entropy tokens (the rest weigh 1). Range ``[1, inf)``. Default 2.0, the authors' released code.
    """

    policy_loss: str = "vanilla"
    loss_agg_mode: str = "token-mean"
    loss_scale_factor: float | None = None
    modifiers: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    kl_loss_type: str = "low_var_kl"
    steer_weight_min: float = 0.8
    sent_low_entropy_share: float = 0.8
    sent_high_cov_multiplier: float = 2.0

    def __post_init__(self) -> None:
        from entropic.objectives.registry import MODIFIERS, POLICY_LOSSES, TERMS

        POLICY_LOSSES.get(self.policy_loss)
        check_agg_mode(self.loss_agg_mode)
        check_kl_type(self.kl_loss_type)
        for name in self.modifiers:
            MODIFIERS.get(name)
        for name in self.terms:
            TERMS.get(name)
        for kind, names in (("modifiers", self.modifiers), ("terms", self.terms)):
            if len(set(names)) != len(names):
                raise ValueError(f"objective.{kind} lists a name twice: {list(names)}")
        if not 0.0 < self.steer_weight_min <= 1.0:
            raise ValueError(f"objective.steer_weight_min must lie in (0, 1], got {self.steer_weight_min}")
        if not 0.0 < self.sent_low_entropy_share <= 1.0:
            raise ValueError(f"objective.sent_low_entropy_share must lie in (0, 1], got {self.sent_low_entropy_share}")
        if not 1.0 <= self.sent_high_cov_multiplier < math.inf:
            raise ValueError(f"objective.sent_high_cov_multiplier must be a finite number >= 1, got "
                             f"{self.sent_high_cov_multiplier}")
        if self.loss_scale_factor is not None and not self.loss_scale_factor > 0:
            raise ValueError(f"objective.loss_scale_factor must be > 0 or null, got {self.loss_scale_factor}")
