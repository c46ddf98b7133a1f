"""Sensor readings of one step: what a controller may observe, per run.

Every reading is a tensor ``[R]``; the names are the sensor names controllers are
configured with:

==========================  =============================================================
``entropy/mean``            mean full-distribution token entropy over valid tokens
``entropy/p10`` ... ``p99``  token-entropy quantiles
``entropy/top20_mean``      mean entropy of each run's 20% highest-entropy tokens
``entropy/pos_adv``         mean entropy over tokens with positive advantage
``entropy/neg_adv``         mean entropy over tokens with negative advantage
``entropy/sampled_nll``     ``-mean(old_log_probs)``: Skywork-OR1's Monte-Carlo estimate
``reward/mean``             mean outcome reward of the batch
``reward/flat_group_frac``  share of groups whose rewards are all equal (no GRPO signal)
==========================  =============================================================

Means are weighted by ``Rollout.weights`` in exact-expectation rollouts.
"""

from __future__ import annotations

import torch

from entropic.metrics import entropy_summary
from entropic.protocol import Observation, Rollout, TokenStats
from entropic.reduce import group_runs, masked_mean_per_run, sum_per_run


def observe(step: int, rollout: Rollout, stats: TokenStats, advantages: torch.Tensor) -> Observation:
    """Build the :class:`Observation` of ``rollout`` scored as ``stats`` with ``advantages`` ``[B, T]``."""
    run, R = rollout.run_ids(), rollout.num_runs
    weights = rollout.weights if rollout.weights is not None else torch.ones_like(rollout.sequence_rewards())
    measure = rollout.mask * weights.unsqueeze(-1)
    values: dict[str, torch.Tensor] = {
        "entropy/sampled_nll": masked_mean_per_run(-rollout.old_log_probs, measure, run, R),
        "reward/mean": masked_mean_per_run(rollout.sequence_rewards().unsqueeze(-1), weights.unsqueeze(-1), run,
                                           R),
        "reward/flat_group_frac": _flat_group_share(rollout),
    }
    if stats.entropy is not None:
        entropy = stats.entropy.detach()
        values.update(entropy_summary(entropy, rollout.mask, run, R, weights=rollout.weights))
        values["entropy/pos_adv"] = masked_mean_per_run(entropy, measure * (advantages > 0), run, R)
        values["entropy/neg_adv"] = masked_mean_per_run(entropy, measure * (advantages < 0), run, R)
    return Observation(step=step, values=values)


def _flat_group_share(rollout: Rollout) -> torch.Tensor:
    """Per run, the share of groups whose rewards are all equal (all correct or all wrong) ``[R]``."""
    rewards = rollout.sequence_rewards()
    groups, group_run = group_runs(rollout.group, rollout.run_ids())  # [K]
    flat = (groups.amin(rewards) == groups.amax(rewards)).to(rewards.dtype)  # [K]
    count = sum_per_run(torch.ones_like(flat), group_run, rollout.num_runs)
    return sum_per_run(flat, group_run, rollout.num_runs) / count.clamp(min=1.0)
