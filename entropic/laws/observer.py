"""The laws' observer: :func:`entropic.observe.observe` plus the laws' readings of each step.

Pass a :class:`LawsObserver` as the trainer's ``observe``; its extra readings land in
``metrics.jsonl`` beside the usual sensors (from the first, on-policy update of each step):

====================================  ========================================================
``laws/dH_pg``, ``laws/dH_npg``       predicted change of the mean token entropy by this step's
                                      update, PG form (exact for SGD on tabular logits) and NPG
                                      form (:mod:`entropic.laws.predictor`); times ``lr`` when
                                      the observer knows it, else per unit ``lr``
``laws/dH/<class>``                   the PG form split by token class
                                      (:mod:`entropic.laws.quadrants`)
``laws/share/<class>``                the class's share of the valid tokens
``laws/authority/entropy_coeff``      first-order entropy change of the step per unit entropy
                                      coefficient (the bonus actuator's gain, ``>= 0``)
``laws/pass@k/bucket<i>``             pass@k of the prompts in entropy bucket i
``laws/entropy/bucket<i>``            their mean entropy (:mod:`entropic.laws.percentiles`)
``laws/length/correct``, ``wrong``    mean length (valid tokens) of the responses with reward
                                      > 0 and <= 0 (NaN when there is none): length bias
====================================  ========================================================

Readings that need the full logits (all but pass@k) are skipped when ``TokenStats.logits`` is
``None`` (LLM backends).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from entropic.laws.percentiles import passk_by_entropy_bucket
from entropic.laws.predictor import token_kernels, token_measure
from entropic.laws.quadrants import quadrant_sums
from entropic.observe import observe
from entropic.protocol import Observation, Rollout, TokenStats
from entropic.reduce import sum_per_run

STATE_RULES = ("group_position", "token")
"""``group_position``: tokens of one group at one position share a state (a bandit, whose logits
depend on the prompt and position only); ``token``: every token is its own state (an LM)."""


def state_ids(rollout: Rollout, rule: str) -> torch.Tensor | None:
    """State id of each token ``[B, T]`` under ``rule`` (``None`` for ``token``)."""
    if rule not in STATE_RULES:
        raise ValueError(f"state rule must be one of {STATE_RULES}, got {rule!r}")
    if rule == "token":
        return None
    T = rollout.seq_len
    return rollout.group.unsqueeze(-1) * T + torch.arange(T, device=rollout.group.device)


def response_lengths(rollout: Rollout) -> dict[str, torch.Tensor]:
    """Mean length ``[R]`` of the correct (reward > 0) and wrong responses of each run (NaN if none)."""
    R, run = rollout.num_runs, rollout.run_ids()
    lengths = rollout.lengths().double()
    weights = torch.ones_like(lengths) if rollout.weights is None else rollout.weights.double()
    correct = (rollout.sequence_rewards() > 0).double()
    out = {}
    for name, member in (("correct", correct), ("wrong", 1.0 - correct)):
        count = sum_per_run(weights * member, run, R)
        total = sum_per_run(weights * member * lengths, run, R)
        out[f"laws/length/{name}"] = torch.where(count > 0, total / count.clamp(min=1e-30), torch.nan).float()
    return out


class LawsObserver:
    """An ``observe`` callable for :class:`entropic.loop.Trainer` that adds the law sensors.

    Parameters
    ----------
    lr : float or sequence of float, optional
        Learning rate of each run (SGD); predicted changes are multiplied by it. ``None``: per unit lr.
    states : str
        How tokens share logits, one of :data:`STATE_RULES` (default ``group_position``).
    high_prob : float, optional
        Fixed high-probability threshold of the token classes; default relative (``pi >= exp(-H)``).
    pass_k : tuple of int
        The k of the per-bucket pass@k.
    buckets : int
        Number of entropy buckets.
    base : callable
        The observe function extended (default :func:`entropic.observe.observe`).
    """

    def __init__(self, lr: float | Sequence[float] | None = None, states: str = "group_position",
                 high_prob: float | None = None, pass_k: tuple[int, ...] = (1, 4), buckets: int = 4,
                 base: Callable[..., Observation] = observe) -> None:
        if states not in STATE_RULES:
            raise ValueError(f"states must be one of {STATE_RULES}, got {states!r}")
        self.lr = None if lr is None else torch.as_tensor(lr, dtype=torch.float64).reshape(-1)
        self.states, self.high_prob, self.pass_k, self.buckets, self.base = states, high_prob, pass_k, buckets, base

    def __call__(self, step: int, rollout: Rollout, stats: TokenStats, advantages: torch.Tensor) -> Observation:
        observation = self.base(step, rollout, stats, advantages)
        values = dict(observation.values)
        values.update(passk_by_entropy_bucket(rollout, stats, self.pass_k, self.buckets))
        values.update(response_lengths(rollout))
        if stats.logits is not None:
            values.update(self.entropy_change(rollout, stats, advantages))
        return Observation(step=observation.step, values=values)

    def entropy_change(self, rollout: Rollout, stats: TokenStats, advantages: torch.Tensor) -> dict[str, torch.Tensor]:
        """The logit-based readings (predicted changes, classes, bonus authority), ``[R]`` each."""
        R, run = rollout.num_runs, rollout.run_ids()
        lr = torch.ones(R, dtype=torch.float64) if self.lr is None else self.lr.expand(R)
        states = state_ids(rollout, self.states)
        kernels = token_kernels(stats.logits, rollout.tokens, states)
        measure = token_measure(rollout.mask, run, R, rollout.weights, states)

        def per_run(tokens: torch.Tensor) -> torch.Tensor:
            return sum_per_run(tokens.sum(-1).double(), run, R)

        out: dict[str, torch.Tensor] = {}
        advantage = advantages.detach()
        for form in ("pg", "npg"):
            out[f"laws/dH_{form}"] = per_run(-measure * advantage * kernels[form]) * lr
        pg = -measure * advantage * kernels["pg"]
        for name, value in quadrant_sums(pg, kernels, advantage, rollout.mask, run, R, rollout.weights,
                                         self.high_prob).items():
            if name.endswith("/share"):
                out[f"laws/share/{name.split('/')[0]}"] = value.double()
            else:
                out[f"laws/dH/{name}"] = value.double() * lr
        out["laws/authority/entropy_coeff"] = per_run(measure * kernels["bonus"]) * lr
        return {name: value.float() for name, value in out.items()}
