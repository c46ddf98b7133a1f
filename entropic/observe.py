"""Sensors: the readings of one step a controller may observe, registered with the functions that compute them.

Every reading is a tensor ``[R]`` (one value per run) over the batch (or mini-batch) the loop has
just scored; the names are the sensor names controllers are configured with
(``controller.sensor.name``):

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

Means are weighted by ``Rollout.weights`` in exact-expectation rollouts. :func:`observe` computes
only the readings asked for (a tuning study skips the quantiles, whose per-run sorts cost more than
the rest of a bandit step); readings of the entropy need ``TokenStats.entropy``.

The loop does no cross-process reduction: an engine that spreads a batch over several processes must
reduce the readings across them before a controller reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cached_property

import torch

from entropic.metrics import entropy_summary
from entropic.protocol import Observation, Rollout, TokenStats
from entropic.reduce import group_runs, masked_mean_per_run, sum_per_run
from entropic.registry import Registry


@dataclass(frozen=True)
class Step:
    """What a reading reads: the scored batch and its advantages ``[B, T]``, with shared measures."""

    rollout: Rollout
    stats: TokenStats
    advantages: torch.Tensor

    @cached_property
    def run(self) -> torch.Tensor:
        return self.rollout.run_ids()

    @cached_property
    def weights(self) -> torch.Tensor:
        """Row weights ``[B]`` (1 for sampled rows)."""
        rollout = self.rollout
        return rollout.weights if rollout.weights is not None else torch.ones_like(rollout.sequence_rewards())

    @cached_property
    def measure(self) -> torch.Tensor:
        """Valid tokens times row weights ``[B, T]``: the measure of every token mean."""
        return self.rollout.mask * self.weights.unsqueeze(-1)

    @cached_property
    def entropy(self) -> torch.Tensor:
        return self.stats.entropy.detach()

    def token_mean(self, values: torch.Tensor, where: torch.Tensor | None = None) -> torch.Tensor:
        """Per-run mean ``[R]`` of token ``values`` ``[B, T]`` over the valid tokens (and ``where``)."""
        measure = self.measure if where is None else self.measure * where
        return masked_mean_per_run(values, measure, self.run, self.rollout.num_runs)


@dataclass(frozen=True)
class SensorSpec:
    """A registered reading: the Observation keys one function computes together, and what each measures."""

    descriptions: dict[str, str]
    compute: Callable[[Step], dict[str, torch.Tensor]]
    needs_entropy: bool


SENSORS: Registry[SensorSpec] = Registry("sensor", "controller.sensor.name")
"""Sensor name -> the :class:`SensorSpec` computing it (names computed together share one)."""


Compute = Callable[[Step], dict[str, torch.Tensor]]


def register_sensor(descriptions: dict[str, str], needs_entropy: bool = True) -> Callable[[Compute], Compute]:
    """Register ``compute(step) -> {name: [R]}`` as the sensors ``descriptions`` names (what, over which tokens)."""

    def decorator(compute: Compute) -> Compute:
        SENSORS.register(*descriptions)(SensorSpec(dict(descriptions), compute, needs_entropy))
        return compute

    return decorator


@register_sensor({"entropy/sampled_nll": "Skywork-OR1's Monte-Carlo estimate -mean(log pi_old(sampled token)): "
                                         "unbiased for the sampling policy's entropy, noisier than entropy/mean"},
                 needs_entropy=False)
def _sampled_nll(step: Step) -> dict[str, torch.Tensor]:
    return {"entropy/sampled_nll": step.token_mean(-step.rollout.old_log_probs)}


@register_sensor({"reward/mean": "mean outcome reward of the policy's own responses (LUFFY's demonstrations left "
                                 "out)"}, needs_entropy=False)
def _reward(step: Step) -> dict[str, torch.Tensor]:
    rewards = step.rollout.sequence_rewards().unsqueeze(-1)
    own = step.weights if step.rollout.off_policy is None else \
        step.weights * (~step.rollout.off_policy).to(step.weights.dtype)
    return {"reward/mean": masked_mean_per_run(rewards, own.unsqueeze(-1), step.run, step.rollout.num_runs)}


@register_sensor({"reward/flat_group_frac": "share of groups whose rewards are all equal (no GRPO signal)"},
                 needs_entropy=False)
def _flat_group_share(step: Step) -> dict[str, torch.Tensor]:
    rewards = step.rollout.sequence_rewards()
    groups, group_run = group_runs(step.rollout.group, step.run)  # [K]
    flat = (groups.amin(rewards) == groups.amax(rewards)).to(rewards.dtype)  # [K]
    count = sum_per_run(torch.ones_like(flat), group_run, step.rollout.num_runs)
    return {"reward/flat_group_frac": sum_per_run(flat, group_run, step.rollout.num_runs) / count.clamp(min=1.0)}


@register_sensor({"entropy/mean": "mean full-vocabulary token entropy over the batch's valid tokens (nats)"})
def _entropy_mean(step: Step) -> dict[str, torch.Tensor]:
    return {"entropy/mean": step.token_mean(step.entropy)}


@register_sensor({**{f"entropy/p{q}": f"{q}th percentile of the token entropy over valid tokens"
                    for q in ("10", "50", "90", "99")},
                  "entropy/top20_mean": "mean token entropy over each run's 20% highest-entropy valid tokens "
                                        "(the 80/20 paper's forking tokens)"})
def _entropy_quantiles(step: Step) -> dict[str, torch.Tensor]:
    rollout = step.rollout
    summary = entropy_summary(step.entropy, rollout.mask, step.run, rollout.num_runs, weights=rollout.weights)
    return {name: value for name, value in summary.items() if name != "entropy/mean"}


@register_sensor({"entropy/pos_adv": "mean token entropy over valid tokens with positive advantage",
                  "entropy/neg_adv": "mean token entropy over valid tokens with negative advantage"})
def _entropy_by_advantage_sign(step: Step) -> dict[str, torch.Tensor]:
    return {"entropy/pos_adv": step.token_mean(step.entropy, step.advantages > 0),
            "entropy/neg_adv": step.token_mean(step.entropy, step.advantages < 0)}


def observe(step: int, rollout: Rollout, stats: TokenStats, advantages: torch.Tensor,
            names: Collection[str] | None = None) -> Observation:
    """The readings ``names`` (default: every registered one) of ``rollout`` scored as ``stats``.

    Readings of the entropy are left out when ``stats.entropy`` is ``None``; a reading computed together
    with a requested one comes along.
    """
    sensors = {id(sensor): sensor for sensor in (SENSORS.get(name) for name in (names or SENSORS.names()))}
    view = Step(rollout, stats, advantages)
    values: dict[str, torch.Tensor] = {}
    for sensor in sensors.values():
        if stats.entropy is not None or not sensor.needs_entropy:
            values.update(sensor.compute(view))
    return Observation(step=step, values=values)
