"""The contextual softmax bandit behind the :class:`~entropic.protocol.Backend` protocol, R runs at once.

Rows are laid out run by run, prompt by prompt (:mod:`entropic.sims.rows`); group ids are ``r * P + p``,
unique across runs.

- ``sampled``: arms are drawn by inverse-CDF search over ``cumsum(pi)`` (:func:`entropic.sims.rng.sample_categorical`),
  on uniforms from the counter-based RNG of :mod:`entropic.sims.rng` keyed by ``(run seed, rollout number, row)``;
  the reward of a correct response is 1 with probability ``reward_correct``, of a wrong one with
  probability ``reward_wrong`` (a second uniform stream). With ``off_policy_share`` the first
  ``round(share * G)`` responses of each group are an oracle's demonstrations instead (LUFFY): each
  position's arm uniform among its correct ones (a third stream), verified and paid like any response.
- ``exact``: every response once, ``Rollout.weights = G * pi(response)`` (detached) and its
  0/1 reward; with reward noise every response twice, paid and unpaid, weighted by the
  verifier's probabilities. Weighted advantages and objectives are then the exact expectation
  (over responses and the verifier's coin) of their sampled versions, with no sampling noise.

With a curriculum (:class:`~entropic.protocol.SupportsCurriculum`, SENT's ``trainer.curriculum``) every prompt
is still drawn, and a rollout keeps the rows of each run's prompts of positive weight only.

A run's numbers never depend on the other runs: its draws come from its own seed, every
reduction is a per-run fold (:mod:`entropic.reduce`), and reading log-probs from the parameters
(a gather along the arms for a whole rollout, a 1-D ``index_select`` for a subset of rows) adds
each logit's gradients in row order on the way back. Its trajectory is therefore the same, to
the bit, alone or among a thousand others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

from entropic._memo import memo
from entropic.memory import check_fits
from entropic.metrics import pass_at_k_from_probability
from entropic.protocol import Rollout, TokenStats, check_entropy_mode, demonstrations_per_group
from entropic.sims.config import BanditConfig
from entropic.sims.critic import TabularCritic, optimiser_of
from entropic.sims.optim import backward_per_run, make_optimizer, step_per_run
from entropic.sims.policy import BanditPolicy
from entropic.sims.prior import initial_prior
from entropic.sims.rng import redraw_counter, sample_categorical, uniform
from entropic.sims.rows import RowLayout, position_index, token_index
from entropic.sims.runs import PerRunLearningRate, restore_params, run_seeds
from entropic.sims.task import BanditTask

STREAM_SAMPLE = 0
"""RNG stream of the arm draws."""
STREAM_REWARD = 1
"""RNG stream of the reward-noise draws."""
STREAM_DEMONSTRATION = 2
"""RNG stream of the oracle's demonstrations (``off_policy_share``)."""


def _entropy(log_probs: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """``-sum_a pi(a) log pi(a)`` over the last dimension (row-wise kernels only)."""
    return -(probs * log_probs).sum(-1)


class _Forward(NamedTuple):
    """A forward pass: taken at optimiser step ``step``, with grad iff ``grad``; ``[R, P, T, K]`` tables."""

    step: int
    grad: bool
    log_probs: torch.Tensor
    probs: torch.Tensor


class SoftmaxBanditBackend(PerRunLearningRate):
    """R independent softmax-bandit runs sharing one task instance.

    Parameters
    ----------
    config : BanditConfig
        The task, the policy and its optimiser.
    num_runs : int
        R, runs simulated together (``>= 1``).
    seeds : sequence of int or LongTensor [R], optional
        Sampling seed of each run; default ``config.seed + r``.
    lr : float or FloatTensor [R], optional
        Learning rate, shared or per run; default ``config.lr``.

    Attributes
    ----------
    task : BanditTask
        Correct arms, difficulty, reward probabilities.
    prior : Prior
        The calibrated initial policy, the reference until :meth:`reset_reference`.
    policy : BanditPolicy
        Parameters and logits ``[R, P, T, K]``.
    lr : FloatTensor [R]
        Per-run learning rates (a property: may be reassigned between steps).
    seeds : LongTensor [R]
        Per-run sampling seeds.
    rollout_count : int
        Rollouts drawn so far (the RNG counter).
    step_count : int
        Optimiser steps taken so far.
    """

    def __init__(self, config: BanditConfig, num_runs: int = 1, seeds: Sequence[int] | torch.Tensor | None = None,
                 lr: float | torch.Tensor | None = None) -> None:
        if num_runs < 1:
            raise ValueError(f"num_runs must be >= 1, got {num_runs}")
        responses = f"group_size={config.group_size}" if config.mode == "sampled" else \
            f"num_arms ** seq_len={config.num_arms ** config.seq_len}"
        check_fits(config.memory_estimate(num_runs),
                   f"num_runs={num_runs} x num_prompts={config.num_prompts} x {responses} responses x "
                   f"num_arms={config.num_arms} ({config.mode} mode, {config.dtype})",
                   "lower num_runs (a study: tune.batch_size or tune.seeds), num_prompts or group_size")
        self.config = config
        self.num_runs = num_runs
        self.dtype = config.torch_dtype
        self.task = BanditTask.from_config(config)
        self.prior = initial_prior(config)
        self.policy = BanditPolicy(config, self.task, self.prior.logits, num_runs)
        self.optimizer = make_optimizer(config, list(self.policy.params.values()))
        self.seeds = run_seeds(config.seed, seeds, num_runs)
        self.lr = config.lr if lr is None else lr
        self.rollout_count = 0
        self.step_count = 0
        self._prior_log_probs = torch.log_softmax(self.policy.prior, dim=-1)  # [P, T, K]
        self._reference_log_probs: torch.Tensor | None = None  # [R, P, T, K] once reset
        self._rows = RowLayout.build(config, self.task, num_runs)
        self._pending_forward: _Forward | None = None
        self._mask = torch.ones(self._rows.run.shape[0], self.task.shape[1], dtype=self.dtype)  # [B, T]: all valid
        self._noise_free = self.task.reward_correct == 1.0 and self.task.reward_wrong == 0.0
        self._group = self._rows.run * self.task.shape[0] + self._rows.prompts  # [B], unique across runs
        T, K = self.task.shape[1:]
        self._radix = K ** torch.arange(T - 1, -1, -1)  # [T]: a response's index over the K^T responses
        self._demonstrations = demonstrations_per_group(config.off_policy_share, config.group_size, "BanditConfig")
        self._off_policy = (torch.arange(self._rows.run.shape[0]) % config.group_size < self._demonstrations
                            if self._demonstrations else None)  # [B]: the first rows of each group
        self._correct_arms = self.task.correct.nonzero()[:, -1].view(*self.task.shape[:2], config.num_correct)
        self._curriculum_rows: torch.Tensor | None = None  # [B']: the rows of the curriculum's prompts; None: all
        self.critic = TabularCritic(num_runs, self.task.shape, self.dtype,
                                    **optimiser_of(config, config.default_critic_lr)) if config.critic else None

    # ----------------------------------------------------------------- protocol
    @property
    def max_entropy(self) -> float:
        """The largest token entropy a policy can have, ``log K`` (nats)."""
        return math.log(self.task.shape[2])

    # ----------------------------------------------------------------- curriculum
    @property
    def prompt_pool(self) -> int:
        """The prompts every rollout answers (:class:`~entropic.protocol.SupportsCurriculum`)."""
        return self.task.shape[0]

    def prompt_index(self, rollout: Rollout) -> torch.Tensor:
        """Prompt id of each row ``[B]``."""
        return rollout.prompts

    def set_prompt_weights(self, weights: torch.Tensor) -> None:
        """Train each run on its prompts of positive weight (``weights [R, P]``) from now on: rollouts and redraws
        keep their rows (the others are drawn as always, so no stream moves, and dropped)."""
        if weights.shape != (self.num_runs, self.task.shape[0]):
            raise ValueError(f"set_prompt_weights needs weights [{self.num_runs}, {self.task.shape[0]}], got "
                             f"{list(weights.shape)}")
        rows = self._rows
        self._curriculum_rows = torch.nonzero(weights[rows.run, rows.prompts] > 0, as_tuple=True)[0]

    def rollout(self) -> Rollout:
        """Draw (``sampled``) or enumerate (``exact``) the responses of every run to every prompt.

        In exact mode with reward noise every response appears twice, paid (reward 1, weight
        ``G pi q``) and unpaid (reward 0, weight ``G pi (1 - q)``; ``eps`` for wrong responses), so
        GRPO's group std includes the verifier's noise exactly as in the sampled limit. Without
        noise each response appears once with its 0/1 reward.

        Returns
        -------
        Rollout
            ``tokens [B, T]``, ``rewards [B]``, ``group [B]``, ``old_log_probs``/``ref_log_probs
            [B, T]`` (reference = the initial policy, or the policy at the last :meth:`reset_reference`;
            ``None`` without ``config.use_reference``),
            ``run [B]``, ``prompts [B]`` (prompt ids), ``weights [B]`` in exact mode,
            ``answer [B]`` (the arm; for ``T > 1`` the response's index in base K, modulo ``2^63``),
            ``off_policy [B]`` with ``off_policy_share`` (demonstrations: ``old_log_probs`` 0), ``values [B, T]``
            with ``critic`` (each run's table at the row's prompt), and ``extras["correct"] [B]`` (noise-free
            verdict, 0/1).
        """
        counter = self.rollout_count
        self.rollout_count += 1
        return self._draw(counter)

    def redraw(self, draw: int) -> Rollout:
        """Draw ``draw`` (``>= 1``) of the last rollout's step (:class:`~entropic.protocol.SupportsRedraw`): the
        same policy's responses to every prompt again, on the RNG counter
        :func:`~entropic.sims.rng.redraw_counter`; no counter moves. In exact mode, the same enumeration."""
        if self.rollout_count == 0 or draw < 1:
            raise ValueError(f"redraw({draw}) needs draw >= 1 after a rollout (rollouts so far: {self.rollout_count})")
        return self._draw(redraw_counter(self.rollout_count - 1, draw))

    def _draw(self, counter: int) -> Rollout:
        """The rollout of :meth:`rollout` drawn on RNG counter ``counter``."""
        shape = self.task.shape
        rows = self._rows
        forward = self._forward()
        self._pending_forward = forward
        with torch.no_grad():
            log_probs = forward.log_probs.detach()  # [R, P, T, K]
            if rows.tokens is None:
                tokens, correct, rewards, old_log_probs, ref_log_probs = self._sample(
                    log_probs, forward.probs.detach(), counter)
                weights = None
            else:
                tokens, correct, rewards = rows.tokens, rows.correct, rows.rewards
                index = token_index(rows.run, rows.prompts, tokens, shape)  # [B, T]
                old_log_probs = log_probs.reshape(-1)[index]
                weights = self._exact_weights(old_log_probs.exp())
                ref_log_probs = self._reference_token_log_probs(index, tokens) if self.config.use_reference else None
            values = None if self.critic is None else self.critic.values(rows.run, rows.prompts)
        rollout = Rollout(tokens=tokens, mask=self._mask, rewards=rewards,
                          group=self._group, old_log_probs=old_log_probs, ref_log_probs=ref_log_probs, run=rows.run,
                          weights=weights, num_runs=self.num_runs, prompts=rows.prompts,
                          answer=(tokens * self._radix).sum(-1) & (2**63 - 1), off_policy=self._off_policy,
                          values=values, extras={"correct": rewards if self._noise_free else correct.to(self.dtype)})
        return rollout if self._curriculum_rows is None else rollout.select(self._curriculum_rows)

    def _reference_token_log_probs(self, index: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """``log pi_ref`` ``[B, T]`` of the rollout's ``tokens`` at flat positions ``index`` ``[B, T]`` of
        ``[R, P, T, K]``: the prior's (one table shared by the runs) until the first reset, then each run's own."""
        if self._reference_log_probs is not None:
            return self._reference_log_probs.reshape(-1)[index]
        rows = self._rows
        return self._prior_log_probs.reshape(-1)[token_index(torch.zeros_like(rows.run), rows.prompts, tokens,
                                                             self.task.shape)]

    def _forward(self) -> _Forward:
        """``log pi`` and ``pi`` ``[R, P, T, K]`` of the current parameters (with grad when enabled).

        The rollout's forward pass is handed to the first :meth:`score` after it when the parameters
        have not moved since (the usual first mini-batch), which then skips its own.
        """
        pending, self._pending_forward = self._pending_forward, None
        if pending is not None and pending.step == self.step_count and pending.grad == torch.is_grad_enabled():
            return pending
        log_probs = torch.log_softmax(self.policy.logits(), dim=-1)
        return _Forward(self.step_count, torch.is_grad_enabled(), log_probs, log_probs.exp())

    def _sample(self, log_probs: torch.Tensor, probs: torch.Tensor, counter: int) -> tuple[torch.Tensor, ...]:
        """Draw G responses per prompt from ``probs [R, P, T, K]``, verify them, read their log-probs.

        The first ``n`` responses of each group are the oracle's demonstrations when ``off_policy_share``
        asks for ``n``: drawn arms replaced before the verdict, their ``old_log_probs`` 0 (``pi_phi = 1``).

        Returns
        -------
        tokens : LongTensor [R * P * G, T]
        correct : BoolTensor [R * P * G]
            Noise-free verdicts.
        rewards : FloatTensor [R * P * G]
            1 with probability ``reward_correct`` (correct) or ``reward_wrong`` (wrong), else 0.
        old_log_probs, ref_log_probs : FloatTensor [R * P * G, T]
            Current (0 for demonstrations) and reference log-probs of the tokens.
        """
        R, (P, T, K), G = self.num_runs, self.task.shape, self.config.group_size
        u = uniform(self.seeds, counter, STREAM_SAMPLE, P * G * T, self.dtype)  # [R, P*G*T]
        u = u.view(R, P, G, T).transpose(-1, -2).reshape(R * P * T, G)
        arms = sample_categorical(probs.view(R * P * T, K), u).view(R, P * T, G)
        n = self._demonstrations
        if n:
            arms = torch.cat([self._oracle_arms(counter), arms[..., n:]], -1)

        def as_rows(per_position: torch.Tensor) -> torch.Tensor:
            """``[R, P * T, G]`` (position-major) as response rows ``[R * P * G, T]``."""
            return per_position.view(R, P, T, G).transpose(-1, -2).reshape(R * P * G, T)

        def drawn(table: torch.Tensor) -> torch.Tensor:
            """``table [R or 1, P, T, K]`` at the drawn arms, as rows ``[R * P * G, T]``."""
            return as_rows(table.reshape(-1, P * T, K).expand(R, P * T, K).gather(-1, arms))

        tokens = as_rows(arms)
        correct = drawn(self.task.correct).all(-1)
        rewards = correct.to(self.dtype)
        if not self._noise_free:
            noise = uniform(self.seeds, counter, STREAM_REWARD, P * G, self.dtype).reshape(-1)  # [R*P*G]
            rewards = (noise < self.task.pay_probability(correct, self.dtype)).to(self.dtype)
        reference = self._prior_log_probs if self._reference_log_probs is None else self._reference_log_probs
        old_log_probs = drawn(log_probs)
        if n:
            old_log_probs = old_log_probs.masked_fill(self._off_policy.unsqueeze(-1), 0.0)
        return tokens, correct, rewards, old_log_probs, drawn(reference) if self.config.use_reference else None

    def _oracle_arms(self, counter: int) -> torch.Tensor:
        """The demonstrations' arms ``[R, P * T, n]`` (position-major, as drawn arms): each position's arm
        uniform among its ``num_correct`` correct ones, from the runs' demonstration stream."""
        R, (P, T, _), C, n = self.num_runs, self.task.shape, self.config.num_correct, self._demonstrations
        u = uniform(self.seeds, counter, STREAM_DEMONSTRATION, P * T * n, self.dtype).view(R, P, T, n)
        choice = (u * C).long().clamp_(max=C - 1)
        return self._correct_arms.expand(R, P, T, C).gather(-1, choice).view(R, P * T, n)

    def _exact_weights(self, token_probs: torch.Tensor) -> torch.Tensor:
        """``G * pi(response) * P(reward | response)`` ``[B]`` from the tokens' probabilities ``[B, T]``."""
        weights = token_probs[:, 0] * self._rows.outcome_weight
        for t in range(1, token_probs.shape[1]):
            weights = weights * token_probs[:, t]
        return weights * float(self.config.group_size)

    def score(self, rollout: Rollout, entropy: str = "grad") -> TokenStats:
        """Log-probs (and entropy, logits) of ``rollout``'s tokens under the current parameters, with grad.

        Works on any subset of a rollout's rows (``Rollout.select``), in any order.

        Returns
        -------
        TokenStats
            ``log_probs [B, T]``; ``entropy [B, T]``: full-distribution entropy of the row's prompt and
            position (``None`` when ``entropy="none"``, without a graph when ``"detached"``); ``logits [B, T, K]``
            when ``config.return_logits``.
        """
        if rollout.prompts is None or rollout.num_runs != self.num_runs:
            raise ValueError(f"score needs a rollout of this backend: Rollout.prompts (prompt ids [B]) and "
                             f"num_runs={self.num_runs}; got prompts={'missing' if rollout.prompts is None else 'set'}"
                             f", num_runs={rollout.num_runs}")
        B, T = rollout.tokens.shape
        K = self.task.shape[2]
        forward = self._forward()
        log_probs = forward.log_probs  # [R, P, T, K]
        run = rollout.run_ids()
        positions = memo(rollout.prompts, "positions", (run,),  # [B*T]; once per rollout layout
                         lambda: position_index(run, rollout.prompts, self.task.shape).reshape(-1))
        if rollout.run is self._rows.run and rollout.prompts is self._rows.prompts:
            # a whole rollout: every (run, prompt) owns n consecutive rows, so a gather along the arms
            # reads the log-probs (its backward adds each logit's gradients in row order, in parallel)
            R, (P, _, _) = self.num_runs, self.task.shape
            n = B // (R * P)
            tokens = rollout.tokens.view(R, P, n, T).transpose(-1, -2).reshape(R, P * T, n)
            picked = log_probs.view(R, P * T, K).gather(-1, tokens)  # [R, P*T, n]
            token_log_probs = picked.view(R, P, T, n).transpose(-1, -2).reshape(B, T)
        else:
            token_log_probs = log_probs.reshape(-1).index_select(0, positions * K + rollout.tokens.reshape(-1))
        token_entropy = None
        if check_entropy_mode(entropy) != "none":
            with torch.set_grad_enabled(entropy == "grad" and torch.is_grad_enabled()):
                token_entropy = _entropy(log_probs, forward.probs).reshape(-1).index_select(0, positions).view(B, T)
        row_logits = None
        if self.config.return_logits:
            row_logits = self.policy.logits().reshape(-1, K).index_select(0, positions).view(B, T, K)
        return TokenStats(log_probs=token_log_probs.view(B, T), entropy=token_entropy, logits=row_logits)

    def backward(self, loss: torch.Tensor) -> None:
        """Back-propagate the per-run loss ``[R]``, adding to each run's gradient."""
        backward_per_run(loss, self.num_runs)

    def step(self) -> dict[str, torch.Tensor]:
        """Clip each run's gradient, step each run's optimiser, clear the gradients.

        Returns
        -------
        dict[str, FloatTensor [R]]
            ``grad/norm``: each run's gradient L2 norm before clipping.
        """
        params = list(self.policy.params.values())
        norm = step_per_run(params, self.optimizer, self.lr, self.config.max_grad_norm)
        self.step_count += 1
        return {"grad/norm": norm}

    def evaluate(self) -> dict[str, torch.Tensor]:
        """Exact per-run metrics ``[R]`` of the current policy (no sampling).

        Returns
        -------
        dict[str, FloatTensor [R]]
            ``eval/pass@1``: mean over prompts of the expected reward (the probability of a correct
            response, with reward noise applied); ``eval/pass@k`` for each ``config.eval_k``:
            ``mean_p 1 - (1 - p)^k`` of that probability; ``eval/entropy``: mean token entropy
            (nats); ``eval/correct_mass``: noise-free probability of a correct response;
            ``eval/correct_entropy``: entropy of the policy restricted to the correct arms
            (renormalised; nats), the diversity that pass@k at large k draws on.
        """
        correct = self.task.correct.to(self.dtype)
        with torch.no_grad():
            logits = self.policy.logits()
            log_probs = torch.log_softmax(logits, dim=-1)
            probs = torch.softmax(logits, dim=-1)
            mass = (probs * correct).sum(-1)  # [R, P, T]
            correct_probability = mass.prod(-1)  # [R, P]
            success = self.task.expected_reward(correct_probability).clamp(0.0, 1.0)  # [R, P]
            some = mass > 0  # a collapsed float32 policy can put exactly 0 on every correct arm
            safe_mass = torch.where(some, mass, torch.ones_like(mass))
            conditional = probs * correct / safe_mass.unsqueeze(-1)
            correct_entropy = torch.where(some, safe_mass.log() - (conditional * log_probs).sum(-1),
                                          torch.zeros_like(mass))  # [R, P, T]
            metrics = {"eval/pass@1": success.mean(-1)}
            for k in self.config.eval_k:
                if k != 1:
                    metrics[f"eval/pass@{k}"] = pass_at_k_from_probability(success, k).mean(-1)
            metrics["eval/entropy"] = _entropy(log_probs, probs).mean(-1).mean(-1)
            metrics["eval/correct_mass"] = correct_probability.mean(-1)
            metrics["eval/correct_entropy"] = correct_entropy.mean(-1).mean(-1)
        return metrics

    def update_critic(self, rollout: Rollout, returns: torch.Tensor) -> dict[str, torch.Tensor]:
        """One step of every run's critic towards ``returns [B, T]`` (:class:`~entropic.protocol.SupportsCritic`)."""
        if self.critic is None:
            raise ValueError("backend.critic=false: the bandit has no critic to train; set backend.critic=true")
        return self.critic.update(rollout, returns)

    # ------------------------------------------------------- ProRL's resets
    def reset_reference(self) -> None:
        """Make each run's current policy its reference (:class:`~entropic.protocol.SupportsReferenceReset`).

        The reference becomes a per-run copy of the current log-probs ``[R, P, T, K]``, so the next
        rollout's ``ref_log_probs`` equal its ``old_log_probs`` until the policy moves.
        """
        if not self.config.use_reference:
            raise ValueError("backend.use_reference=false: the bandit has no reference to reset; set "
                             "backend.use_reference=true or trainer.reference_reset_every=0")
        with torch.no_grad():
            self._reference_log_probs = torch.log_softmax(self.policy.logits(), dim=-1)

    def reset_optimizer(self) -> None:
        """Restart every run's optimiser state (:class:`~entropic.protocol.SupportsOptimizerReset`)."""
        self.optimizer.reset()

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        """Parameters, optimiser moments, learning rates, seeds, the RNG / step counters, the reset
        reference log-probs (``None`` while the reference is the prior) and the critic (``None`` without one)."""
        return {
            "params": {name: p.detach().clone() for name, p in self.policy.params.items()},
            "optimizer": self.optimizer.state_dict(), "lr": self.lr.clone(), "seeds": self.seeds.clone(),
            "rollout_count": self.rollout_count, "step_count": self.step_count,
            "reference_log_probs": None if self._reference_log_probs is None else self._reference_log_probs.clone(),
            "critic": None if self.critic is None else self.critic.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; the backend then continues bit-identically."""
        restore_params(self.policy.params, state["params"], "parameter")
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr = state["lr"].clone()
        self.seeds = state["seeds"].clone()
        self.rollout_count = int(state["rollout_count"])
        self.step_count = int(state["step_count"])
        self._pending_forward = None
        reference = state["reference_log_probs"]
        if reference is not None and tuple(reference.shape) != (self.num_runs, *self.task.shape):
            raise ValueError(f"state_dict reference_log_probs has shape {list(reference.shape)}, this backend "
                             f"{[self.num_runs, *self.task.shape]} (different config or num_runs)")
        self._reference_log_probs = None if reference is None else reference.clone()
        if (self.critic is None) != (state.get("critic") is None):
            raise ValueError("state_dict and backend disagree on the critic (backend.critic true in only one)")
        if self.critic is not None:
            self.critic.load_state_dict(state["critic"])

