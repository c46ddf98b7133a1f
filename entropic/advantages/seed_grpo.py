"""SEED-GRPO (Chen et al., "Semantic Entropy EnhanceD GRPO", arXiv 2505.12346): conservative on uncertain prompts.

Each prompt's GRPO advantages are scaled by ``f(alpha * SE / SE_max)``: ``SE`` the semantic entropy
of the group's answers (:mod:`entropic.advantages.semantic_entropy`), ``SE_max = log n`` its largest
value for a group of ``n`` responses, ``f`` a decreasing scale (:mod:`entropic.advantages.seed_scaling`).
A group whose responses agree keeps GRPO's signal; one whose answers all differ is damped most.

From the paper: ``A_hat = A * f(alpha * SE(q) / SE_max(q))`` with linear, exponential and focal ``f``
and a sensitivity ``alpha``. Chosen here, unverified (the paper's text on them was not available to
us and its code is not public): the plug-in (answer-frequency) estimate of SE, ``SE_max = log n``,
the three forms of ``f``, the defaults ``alpha = 1`` and linear ``f``, GRPO's std-normalised
advantage as ``A`` (``norm_adv_by_std_in_grpo`` applies), and a response without a parseable answer
counting as an answer of its own. A group of one response has ``SE_max = 0`` and keeps its advantage.

Registered as ``advantage.adv_estimator=seed_grpo``; knobs ``advantage.seed_alpha``,
``advantage.seed_scaling``, ``advantage.seed_gamma``.
"""

from __future__ import annotations

import torch

from entropic.advantages.config import AdvantageConfig
from entropic.advantages.estimators import grpo
from entropic.advantages.registry import ADV_ESTIMATORS
from entropic.advantages.seed_scaling import seed_scale
from entropic.advantages.semantic_entropy import semantic_entropy
from entropic.advantages.statistics import Groups
from entropic.protocol import Rollout


def normalised_semantic_entropy(rollout: Rollout, dtype: torch.dtype) -> tuple[torch.Tensor, Groups]:
    """``u = SE / log n`` of each group, in ``[0, 1]`` (0 for a group of one row), and the groups.

    Returns
    -------
    uncertainty : FloatTensor [K]
        Normalised semantic entropy of each group (increasing group-id order).
    groups : Groups
        The groups of ``rollout``.
    """
    entropy, groups = semantic_entropy(rollout, dtype)
    largest = torch.log(groups.size)  # [K]: SE_max = log n
    several = largest > 0
    uncertainty = torch.where(several, entropy / torch.where(several, largest, torch.ones_like(largest)),
                              torch.zeros_like(entropy))
    return uncertainty.clamp(0.0, 1.0), groups


@ADV_ESTIMATORS.register("seed_grpo")
def seed_grpo(rollout: Rollout, config: AdvantageConfig) -> torch.Tensor:
    """GRPO advantages ``[B, T]`` scaled per group by ``f(seed_alpha * SE / SE_max)``.

    Parameters
    ----------
    rollout : Rollout
        ``rewards``, ``mask``, ``group`` and ``answer`` [B]; sampled rows only (the semantic entropy
        of an exact-expectation rollout would be the policy's, not a group's).
    config : AdvantageConfig
        ``seed_alpha``, ``seed_scaling``, ``seed_gamma``, and GRPO's ``norm_adv_by_std_in_grpo``, ``epsilon``.

    Returns
    -------
    FloatTensor [B, T]
    """
    if rollout.weights is not None:
        raise ValueError("advantage.adv_estimator='seed_grpo' needs sampled responses (Rollout.weights is set: an "
                         "exact-expectation rollout has no sampled answers); use backend mode 'sampled'")
    advantages = grpo(rollout, config)
    uncertainty, groups = normalised_semantic_entropy(rollout, advantages.dtype)
    scale = seed_scale(uncertainty, config.seed_alpha, config.seed_scaling, config.seed_gamma)  # [K]
    return advantages * groups.rows(scale).unsqueeze(-1)
