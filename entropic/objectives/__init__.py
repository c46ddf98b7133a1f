"""Composable, registered policy-loss terms (verl / TRL names and defaults).

Importing this package registers every built-in part. See :class:`Objective`.
"""

from entropic.objectives import (  # noqa: F401  (registers)
    covariance,
    gspo,
    luffy,
    modifiers,
    nsa,
    pos_lm,
    ppo,
    reinforce,
    sent,
    steer,
    terms,
)
from entropic.objectives.aggregation import AGG_MODES, agg_loss
from entropic.objectives.batch import PolicyBatch
from entropic.objectives.config import ObjectiveConfig
from entropic.objectives.kl import KL_ESTIMATORS, kl_penalty
from entropic.objectives.objective import Objective
from entropic.objectives.registry import (
    MODIFIERS,
    POLICY_LOSSES,
    TERMS,
    PolicyLoss,
    register_modifier,
    register_policy_loss,
    register_term,
)

__all__ = [
    "AGG_MODES", "KL_ESTIMATORS", "MODIFIERS", "POLICY_LOSSES", "TERMS", "Objective", "ObjectiveConfig",
    "PolicyBatch", "PolicyLoss", "agg_loss", "kl_penalty", "register_modifier", "register_policy_loss",
    "register_term",
]
