"""Advantage estimators: rewards of a :class:`~entropic.protocol.Rollout` -> advantages ``[B, T]``.

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
from entropic.advantages.registry import ADV_ESTIMATORS, AdvantageFn
from entropic.advantages.statistics import Groups, masked_whiten_per_run
from entropic.advantages.unlikeliness import unlikeliness, unlikeliness_rewards

__all__ = [
    "ADV_ESTIMATORS", "AdvantageConfig", "AdvantageFn", "Groups", "compute_advantages", "gpg", "grpo",
    "masked_whiten_per_run", "opo", "reinforce_plus_plus", "reinforce_plus_plus_baseline", "rloo", "unlikeliness",
    "unlikeliness_rewards",
]
