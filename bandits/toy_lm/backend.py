"""The toy LM behind the :class:`~entropic.protocol.Backend` protocol, R independent runs at once.

A rollout draws, for every run, ``num_prompts`` problems from the training set and ``group_size``
responses to each; rows are laid out run by run, prompt by prompt, response by response
(``b = (r * P + p) * G + g``), group ids are ``r * P + p``. Problems and tokens are drawn from the
counter-based RNG of :mod:`entropic.sims.rng` keyed by ``(run seed, rollout number, stream)``, so a run's
draws never depend on the other runs; its parameters ``[R, ...]`` pass through per-run batched
kernels only (:mod:`entropic.sims.toy_lm.model`), every reduction is taken per run, and its optimiser
state is elementwise (:mod:`entropic.sims.optim`). A run's trajectory is the same, to the bit, alone or
batched (``tests/toy_lm/test_toy_lm_identity.py``).

Log-probs and entropy are those of the sampling distribution, ``softmax(logits / temperature)``
(verl divides logits by the rollout temperature): ``old_log_probs`` is a no-grad teacher-forced pass
identical to what ``score`` computes on the same rows, ``sample_log_probs`` what the sampler saw
(equal up to rounding: it ran with a key/value cache), ``ref_log_probs`` the reference model's (the
warm start, or the policy at the last :meth:`ToyLMBackend.reset_reference`).

With ``off_policy_share`` the first ``round(share * G)`` responses of each group are demonstrations
(LUFFY): the problem's verified solution from the training set, scored and verified like a sample,
with ``old_log_probs`` and ``sample_log_probs`` 0 (the demonstrator's ``pi_phi = 1``).

With a curriculum (:class:`~entropic.protocol.SupportsCurriculum`, SENT's ``trainer.curriculum``) a run draws its
problems from the curriculum's weights, by inverse CDF on the same uniforms as its uniform draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from entropic.metrics import entropy_from_logits, pass_at_k, pass_at_k_from_probability
from entropic.protocol import Rollout, TokenStats, check_entropy_mode, demonstrations_per_group
from entropic.sims.critic import FEATURES, LinearCritic, optimiser_of
from entropic.sims.optim import SGD, Adam, backward_per_run, step_per_run
from entropic.sims.rng import redraw_counter, sample_categorical, uniform
from entropic.sims.runs import PerRunLearningRate, restore_params, run_seeds
from entropic.sims.toy_lm.config import ToyLMConfig
from entropic.sims.toy_lm.model import Params, generate, response_hidden_states, response_logits, stack_runs
from entropic.sims.toy_lm.pretrain import load_or_pretrain
from entropic.sims.toy_lm.tasks import EOS, PAD, VOCAB, Dataset, shaped_reward, verified_steps, verify_batch

STREAM_PROMPT, STREAM_SAMPLE, STREAM_EVAL = 0, 1, 2
"""RNG streams: problem draws, token draws, evaluation samples."""
EVAL_SET_SEED_OFFSET = 2_000_003
"""The evaluation set is ``Dataset.build(task, n, task_seed + offset)``, held out from training draws."""


class ToyLMBackend(PerRunLearningRate):
    """R independent RL runs of a tiny transformer on one synthetic task.

    Parameters
    ----------
    config : ToyLMConfig
        Task, model, warm start and optimiser.
    num_runs : int
        R (``>= 1``).
    seeds : sequence of int or LongTensor [R], optional
        Sampling seed of each run; default ``config.seed + r``.
    lr : float or FloatTensor [R], optional
        Learning rate, shared or per run; default ``config.lr``.

    Attributes
    ----------
    params : dict[str, FloatTensor [R, ...]]
        The runs' parameters (leaves the optimiser updates).
    reference : dict[str, FloatTensor [R, ...]] or None
        The reference parameters, for ``ref_log_probs``: the warm start, or each run's parameters at
        the last :meth:`reset_reference`; ``None`` without ``use_reference``.
    prior_stats : dict[str, float]
        The warm start's calibrated pass@1 (``accuracy``), ``entropy``, ``alpha``, ``steps``.
    train_set, eval_set : Dataset
        Problems rollouts draw from, and held-out evaluation problems.
    rollout_count, step_count : int
        Rollouts drawn (the RNG counter) and optimiser steps taken.
    """

    def __init__(self, config: ToyLMConfig, num_runs: int = 1, seeds: Sequence[int] | torch.Tensor | None = None,
                 lr: float | torch.Tensor | None = None) -> None:
        if num_runs < 1:
            raise ValueError(f"num_runs must be >= 1, got {num_runs}")
        self.config, self.num_runs, self.dtype = config, num_runs, config.torch_dtype
        self.task = config.make_task()
        self.train_set = Dataset.build(self.task, config.num_train_problems, config.task_seed)
        self.eval_set = Dataset.build(self.task, config.num_eval_problems, config.task_seed + EVAL_SET_SEED_OFFSET)
        warm = load_or_pretrain(config)
        self.prior_stats = dict(warm.stats)
        self.params = stack_runs(warm.params, num_runs, requires_grad=True)
        self.reference = stack_runs(warm.params, num_runs, requires_grad=False) if config.use_reference else None
        values = list(self.params.values())
        self.optimizer = Adam(values, config.adam_beta1, config.adam_beta2, config.adam_eps) \
            if config.optimizer == "adam" else SGD()
        self.seeds = run_seeds(config.seed, seeds, num_runs)
        self.lr = config.lr if lr is None else lr
        self.rollout_count = 0
        self.step_count = 0
        self._response_stats: dict[str, torch.Tensor] = {}
        demonstrations = demonstrations_per_group(config.off_policy_share, config.group_size, "ToyLMConfig")
        self._off_policy = torch.arange(config.num_prompts * config.group_size) % config.group_size < demonstrations
        self._solutions = torch.full((len(self.train_set), config.max_response_len), PAD, dtype=torch.long)
        self._solutions[:, :self.train_set.answers.shape[1]] = self.train_set.answers  # [n, T]: answer, <eos>, pad
        self._problem_weights: torch.Tensor | None = None  # [R, n]: the curriculum's, uniform while None
        self.critic = LinearCritic(num_runs, config.n_embd, self.dtype, **optimiser_of(config, config.lr)) \
            if config.critic else None

    def _token_stats(self, params: Params, prompts: torch.Tensor, tokens: torch.Tensor,
                     entropy: str) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Log-probs ``[R, N, T]``, entropy ``[R, N, T]`` (as ``entropy`` asks), scaled logits of teacher-forced
        responses."""
        logits = response_logits(params, prompts, tokens, self.config.n_head) / self.config.temperature
        log_probs = logits.log_softmax(-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
        if check_entropy_mode(entropy) == "none":
            return log_probs, None, logits
        return log_probs, entropy_from_logits(logits if entropy == "grad" else logits.detach()), logits

    @property
    def max_entropy(self) -> float:
        """The largest token entropy a policy can have, ``log V`` over the token vocabulary (nats)."""
        return math.log(len(VOCAB))

    # ----------------------------------------------------------------- curriculum
    @property
    def prompt_pool(self) -> int:
        """The training problems rollouts draw from (:class:`~entropic.protocol.SupportsCurriculum`)."""
        return len(self.train_set)

    def prompt_index(self, rollout: Rollout) -> torch.Tensor:
        """Training-set index of each row's problem ``[B]``."""
        return rollout.extras["problem"]

    def set_prompt_weights(self, weights: torch.Tensor) -> None:
        """Draw each run's problems from ``weights`` ``[R, n]`` from now on (inverse CDF on the run's prompt
        stream, the uniforms of the unweighted draw)."""
        if weights.shape != (self.num_runs, len(self.train_set)):
            raise ValueError(f"set_prompt_weights needs weights [{self.num_runs}, {len(self.train_set)}], got "
                             f"{list(weights.shape)}")
        self._problem_weights = weights.to(torch.float64)

    # ----------------------------------------------------------------- protocol
    def rollout(self) -> Rollout:
        """Sample G responses to P training problems per run, verify them, and fill the log-probs.

        Returns
        -------
        Rollout
            ``tokens, mask, old_log_probs, sample_log_probs, ref_log_probs [B, T]`` (``T =
            max_response_len``, right-padded; log-probs 0 on padding), ``rewards [B]`` (verifier 0/1 with
            format and overlong shaping), ``group``, ``run [B]``, ``prompts [B, T_prompt]`` with
            ``prompt_mask`` (all ones: prompts of a task have one length), ``answer [B]`` (the id of each
            parsed answer, -1 for none), ``off_policy [B]`` with ``off_policy_share`` (demonstrations),
            ``verified_steps [B, T]`` (the tokens of verified steps, :func:`~entropic.tasks.verified_characters`),
            ``extras``: ``correct`` and ``well_formed`` (0/1), ``problem`` (training-set index). The
            ``response/*`` metrics of :meth:`step` are the samples' (demonstrations left out). With
            ``critic``: ``values [B, T]`` and ``extras["critic_features"] [B, T, C]``, the detached hidden
            states the linear critic reads.
        """
        counter = self.rollout_count
        self.rollout_count += 1
        return self._draw(counter)

    def redraw(self, draw: int) -> Rollout:
        """Draw ``draw`` (``>= 1``) of the last rollout's step (:class:`~entropic.protocol.SupportsRedraw`): new
        problems and responses from the same policy, on the RNG counter :func:`~entropic.sims.rng.redraw_counter`.
        No counter moves, and the ``response/*`` metrics of :meth:`step` stay those of the step's first rollout."""
        if self.rollout_count == 0 or draw < 1:
            raise ValueError(f"redraw({draw}) needs draw >= 1 after a rollout (rollouts so far: {self.rollout_count})")
        first = self._response_stats
        try:
            return self._draw(redraw_counter(self.rollout_count - 1, draw))
        finally:
            self._response_stats = first

    def _draw(self, counter: int) -> Rollout:
        """The rollout of :meth:`rollout` drawn on RNG counter ``counter`` (its ``response/*`` metrics kept)."""
        config, R = self.config, self.num_runs
        P, G, T = config.num_prompts, config.group_size, config.max_response_len
        N = P * G
        draws = uniform(self.seeds, counter, STREAM_PROMPT, P, torch.float64)  # [R, P]
        if self._problem_weights is None:
            problem = (draws * len(self.train_set)).long().clamp_(max=len(self.train_set) - 1)
        else:
            problem = sample_categorical(self._problem_weights, draws)
        problem = problem.repeat_interleave(G, dim=1)  # [R, N]
        prompts = self.train_set.prompts[problem]  # [R, N, T_prompt]
        u = uniform(self.seeds, counter, STREAM_SAMPLE, N * T, self.dtype).view(R, N, T)
        sample = generate(self.params, prompts, T, config.n_head, config.temperature, u)
        off = self._off_policy.unsqueeze(-1)  # [N, 1]: demonstration rows of every run
        solutions = self._solutions[problem]  # [R, N, T]
        tokens = torch.where(off, solutions, sample.tokens)  # [R, N, T]
        valid = torch.where(off, solutions != PAD, sample.mask)
        mask = valid.to(self.dtype)
        with torch.no_grad():
            old_log_probs = (self._token_stats(self.params, prompts, tokens, "none")[0] * mask).masked_fill(off, 0.0)
            ref_log_probs = None if self.reference is None else \
                (self._token_stats(self.reference, prompts, tokens, "none")[0] * mask).view(R * N, T)
        B = R * N
        correct, well_formed, answer = verify_batch(self.task, self.train_set, problem.view(B), tokens.view(B, T))
        lengths = mask.view(B, T).sum(-1)
        rewards = shaped_reward(correct, well_formed, lengths, T, config.format_penalty, config.overlong_buffer_len,
                                config.overlong_penalty_factor)
        run = torch.arange(R).repeat_interleave(N)
        critic: dict[str, torch.Tensor] = {}
        if self.critic is not None:
            with torch.no_grad():
                critic[FEATURES] = response_hidden_states(self.params, prompts, tokens, config.n_head).reshape(B, T, -1)
                values = self.critic.values(critic[FEATURES], run)
        group = run * P + torch.arange(P).repeat_interleave(G).repeat(R)  # unique across runs
        samples = (~self._off_policy).to(self.dtype)  # [N]: the response/* metrics are the policy's own samples'

        def sample_mean(values: torch.Tensor) -> torch.Tensor:
            return (values.view(R, N).to(self.dtype) * samples).sum(-1) / samples.sum().clamp(min=1.0)

        self._response_stats = {
            "response/length_mean": sample_mean(lengths),
            "response/clip_frac": sample_mean(~((tokens == EOS) & valid).any(-1)),
            "response/accuracy": sample_mean(correct),
            "response/format_ok": sample_mean(well_formed),
        }
        return Rollout(tokens=tokens.view(B, T), mask=mask.view(B, T), rewards=rewards, group=group,
                       old_log_probs=old_log_probs.view(B, T), ref_log_probs=ref_log_probs,
                       sample_log_probs=sample.log_probs.masked_fill(off, 0.0).view(B, T), run=run, num_runs=R,
                       prompts=prompts.view(B, -1), prompt_mask=torch.ones(B, prompts.shape[-1], dtype=self.dtype),
                       answer=answer, off_policy=self._off_policy.repeat(R) if self._off_policy.any() else None,
                       verified_steps=verified_steps(self.task, self.train_set, problem.view(B), tokens.view(B, T)),
                       values=values if critic else None,
                       extras={"correct": correct.to(self.dtype), "well_formed": well_formed.to(self.dtype),
                               "problem": problem.view(B), **critic})

    def score(self, rollout: Rollout, entropy: str = "grad") -> TokenStats:
        """Log-probs (and entropy) of ``rollout``'s tokens under the current parameters, with grad.

        Works on any subset of a rollout's rows in any order; each run's rows are scored together
        (runs with fewer rows are padded with dummy rows, which cost compute but change nothing).

        Returns
        -------
        TokenStats
            ``log_probs [B, T]`` and ``entropy [B, T]`` of ``softmax(logits / temperature)`` (0 on padding;
            entropy ``None`` when ``entropy="none"``, without a graph when ``"detached"``); ``logits [B, T, V]``
            when ``config.return_logits``.
        """
        if rollout.prompts is None or rollout.prompts.dim() != 2 or rollout.num_runs != self.num_runs:
            raise ValueError(f"score needs a rollout of this backend: Rollout.prompts (token ids [B, T_prompt]) and "
                             f"num_runs={self.num_runs}; got prompts of shape "
                             f"{None if rollout.prompts is None else list(rollout.prompts.shape)}, "
                             f"num_runs={rollout.num_runs}")
        R, (B, T) = self.num_runs, rollout.tokens.shape
        run = rollout.run_ids()
        counts = torch.bincount(run, minlength=R)
        n = int(counts.max())
        slot = None
        if not (bool((counts == n).all()) and torch.equal(run, torch.arange(R).repeat_interleave(n))):
            order = torch.argsort(run, stable=True)
            rank = torch.empty_like(order)
            rank[order] = torch.arange(B) - (counts.cumsum(0) - counts)[run[order]]
            slot = run * n + rank  # [B]: row b sits at slot[b] of the [R * n] run-major layout
        prompts, tokens = rollout.prompts, rollout.tokens
        if slot is not None:
            prompts = torch.full((R * n, prompts.shape[1]), PAD, dtype=torch.long).index_copy(0, slot, prompts)
            tokens = torch.full((R * n, T), PAD, dtype=torch.long).index_copy(0, slot, tokens)
        log_probs, entropy, logits = self._token_stats(self.params, prompts.view(R, n, -1), tokens.view(R, n, T),
                                                       entropy)
        log_probs, logits = log_probs.reshape(R * n, T), logits.reshape(R * n, T, -1)
        entropy = None if entropy is None else entropy.reshape(R * n, T)
        if slot is not None:
            log_probs, logits = log_probs[slot], logits[slot]
            entropy = None if entropy is None else entropy[slot]
        mask = rollout.mask
        return TokenStats(log_probs=log_probs * mask, entropy=None if entropy is None else entropy * mask,
                          logits=logits if self.config.return_logits else None)

    def backward(self, loss: torch.Tensor) -> None:
        """Back-propagate the per-run loss ``[R]``, adding to each run's gradient."""
        backward_per_run(loss, self.num_runs)

    def step(self) -> dict[str, torch.Tensor]:
        """Clip each run's gradient, step each run's optimiser, clear the gradients.

        Returns
        -------
        dict[str, FloatTensor [R]]
            ``grad/norm`` (before clipping) and the last rollout's ``response/length_mean``,
            ``response/clip_frac`` (share cut at ``max_response_len``), ``response/accuracy``
            (noise-free correct share) and ``response/format_ok`` (well-formed share).
        """
        norm = step_per_run(list(self.params.values()), self.optimizer, self.lr, self.config.max_grad_norm)
        self.step_count += 1
        return {"grad/norm": norm, **self._response_stats}

    def evaluate(self) -> dict[str, torch.Tensor]:
        """Per-run metrics ``[R]`` on the held-out evaluation set.

        Returns
        -------
        dict[str, FloatTensor [R]]
            ``eval/pass@k`` for each ``config.eval_k``: exact (``mean_p 1 - (1 - pi(y*_p))^k`` from the
            teacher-forced probability of the one correct answer) for addition and sort, the unbiased
            estimate from ``eval_samples`` samples for countdown; ``eval/entropy``: mean token entropy
            of sampled responses (nats); ``eval/length``: their mean length; ``eval/format_ok``: their
            well-formed share; ``eval/sampled_accuracy``: their correct share; ``eval/greedy_accuracy``:
            accuracy of greedy decoding. Samples use RNG stream 2 at counter ``step_count``.
        """
        config, R, data = self.config, self.num_runs, self.eval_set
        E, S, T = len(data), config.eval_samples, config.max_response_len
        with torch.no_grad():
            prompts = data.prompts.repeat_interleave(S, dim=0).expand(R, E * S, -1)
            u = uniform(self.seeds, self.step_count, STREAM_EVAL, E * S * T, self.dtype).view(R, E * S, T)
            sample = generate(self.params, prompts, T, config.n_head, config.temperature, u)
            ids = torch.arange(E).repeat_interleave(S).repeat(R)
            correct, well_formed, _ = verify_batch(self.task, data, ids, sample.tokens.view(R * E * S, T))
            mask = sample.mask.to(self.dtype)
            entropy = (entropy_from_logits(sample.logits) * mask).sum(-1).sum(-1) / mask.sum(-1).sum(-1)
            greedy = generate(self.params, data.prompts.expand(R, E, -1), T, config.n_head, 0.0)
            greedy_correct = verify_batch(self.task, data, torch.arange(E).repeat(R), greedy.tokens.view(R * E, T))[0]
            metrics = {}
            correct = correct.view(R, E, S)
            if self.task.unique_answer:
                answers = torch.full((E, T), PAD, dtype=torch.long)
                answers[:, :data.answers.shape[1]] = data.answers
                log_probs = self._token_stats(self.params, data.prompts.expand(R, E, -1), answers.expand(R, E, T),
                                              "none")[0]
                success = (log_probs * (answers != PAD)).sum(-1).exp()  # [R, E]
                for k in config.eval_k:
                    metrics[f"eval/pass@{k}"] = pass_at_k_from_probability(success, k).mean(-1).to(self.dtype)
            else:
                for k in config.eval_k:
                    metrics[f"eval/pass@{k}"] = pass_at_k(S, correct.sum(-1), k).mean(-1).to(self.dtype)
            metrics.update({
                "eval/entropy": entropy, "eval/length": mask.sum(-1).mean(-1),
                "eval/format_ok": well_formed.view(R, E * S).to(self.dtype).mean(-1),
                "eval/sampled_accuracy": correct.view(R, E * S).to(self.dtype).mean(-1),
                "eval/greedy_accuracy": greedy_correct.view(R, E).to(self.dtype).mean(-1),
            })
        return metrics

    # ------------------------------------------------------- ProRL's resets
    def reset_reference(self) -> None:
        """Make each run's current parameters its reference (:class:`~entropic.protocol.SupportsReferenceReset`).

        The next rollout's ``ref_log_probs`` then equal its ``old_log_probs`` until the policy moves.
        A backend built with ``use_reference=False`` has no reference: resetting it raises ``ValueError``.
        """
        if self.reference is None:
            raise ValueError("backend.use_reference=false: the toy LM has no reference to reset; set "
                             "backend.use_reference=true or trainer.reference_reset_every=0")
        self.reference = {name: param.detach().clone() for name, param in self.params.items()}

    def reset_optimizer(self) -> None:
        """Restart every run's optimiser state (:class:`~entropic.protocol.SupportsOptimizerReset`)."""
        self.optimizer.reset()

    # ------------------------------------------------------------------ resume
    def update_critic(self, rollout: Rollout, returns: torch.Tensor) -> dict[str, torch.Tensor]:
        """One step of every run's critic towards ``returns [B, T]`` (:class:`~entropic.protocol.SupportsCritic`)."""
        if self.critic is None:
            raise ValueError("backend.critic=false: the toy LM has no critic to train; set backend.critic=true")
        return self.critic.update(rollout, returns)

    def state_dict(self) -> dict[str, Any]:
        """Parameters, reference parameters, optimiser moments, learning rates, seeds, the RNG / step counters and
        the critic (``None`` without one)."""
        reference = None if self.reference is None else {name: p.clone() for name, p in self.reference.items()}
        return {"params": {name: p.detach().clone() for name, p in self.params.items()}, "reference": reference,
                "optimizer": self.optimizer.state_dict(), "lr": self.lr.clone(), "seeds": self.seeds.clone(),
                "rollout_count": self.rollout_count, "step_count": self.step_count,
                "critic": None if self.critic is None else self.critic.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; the backend then continues bit-identically."""
        restore_params(self.params, state["params"], "parameter")
        if (state["reference"] is None) != (self.reference is None):
            raise ValueError("state_dict and this backend disagree on having a reference (backend.use_reference)")
        if self.reference is not None:
            self.reference = {name: state["reference"][name].clone() for name in self.reference}
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr = state["lr"].clone()
        self.seeds = state["seeds"].clone()
        self.rollout_count = int(state["rollout_count"])
        self.step_count = int(state["step_count"])
        if (self.critic is None) != (state.get("critic") is None):
            raise ValueError("state_dict and backend disagree on the critic (backend.critic true in only one)")
        if self.critic is not None:
            self.critic.load_state_dict(state["critic"])

