"""Advantage estimators: rewards (and values) of a :class:`~entropic.protocol.Rollout` -> advantages ``[B, T]``.

Estimators are registered in :data:`ADV_ESTIMATORS` under verl's ``algorithm.adv_estimator``
names and share one signature, ``fn(rollout, config) -> Tensor [B, T]``;
:func:`compute_advantages` dispatches on :class:`AdvantageConfig`.
"""

from entropic.advantages.config import AdvantageConfig
from entropic.advantages.estimators import (
    compute_advantages,
    gpg,
    grpo,
    opo,
    reinforce_plus_plus,
    reinforce_plus_plus_baseline,
    rloo,
)
from entropic.advantages.gae import critic_returns, gae, generalized_advantages, length_adaptive_lambda
from entropic.advantages.registry import ADV_ESTIMATORS, AdvantageFn
from entropic.advantages.seed_grpo import seed_grpo
from entropic.advantages.seed_scaling import SEED_SCALINGS, seed_scale
from entropic.advantages.semantic_entropy import cluster_sizes, semantic_entropy
from entropic.advantages.statistics import Groups, masked_whiten_per_run
from entropic.advantages.unlikeliness import unlikeliness, unlikeliness_rewards

__all__ = [
    "ADV_ESTIMATORS", "SEED_SCALINGS", "AdvantageConfig", "AdvantageFn", "Groups", "cluster_sizes",
    "compute_advantages", "critic_returns", "gae", "generalized_advantages", "gpg", "grpo", "length_adaptive_lambda",
    "masked_whiten_per_run", "opo", "reinforce_plus_plus", "reinforce_plus_plus_baseline", "rloo", "seed_grpo",
    "seed_scale", "semantic_entropy", "unlikeliness", "unlikeliness_rewards",
]
