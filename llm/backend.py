"""The LLM backend: a Hugging Face causal LM behind :class:`entropic.protocol.Backend`, one run per process.

Per step: :meth:`HFBackend.rollout` draws ``num_prompts`` problems, samples ``group_size`` responses to
each (:mod:`entropic.llm.sampling`), verifies them and scores them teacher-forced (``old_log_probs``, and
``ref_log_probs`` when a reference is kept); :meth:`score` recomputes log-probs with grad and the
entropy as the loop asks (:mod:`entropic.llm.scoring`); :meth:`backward` and :meth:`step` are AdamW's.
Sampling and evaluation draw from RNG streams seeded by ``(seed, stream, counter)``, so a resumed run
samples what the unbroken one did, and evaluating does not move the training stream. With
``off_policy_share`` the first ``round(share * G)`` responses of each group are demonstrations (LUFFY):
the problem's reference answer, verified and scored like a sample.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import torch
from omegaconf import Container, OmegaConf

from entropic.llm.config import HFConfig
from entropic.llm.critic import FEATURES, ValueHead
from entropic.llm.encoding import decode_responses, encode_answers, encode_prompts, token_flags
from entropic.llm.model import add_lora, context_length, load_model, load_tokenizer, tiny_model
from entropic.llm.optim import make_optimizer
from entropic.llm.sampling import Sample, sample
from entropic.llm.scoring import response_hidden, token_stats
from entropic.llm.tasks import SupportsSteps, TextProblem, make_task
from entropic.llm.warm_start import load_or_warm_start
from entropic.metrics import pass_at_k
from entropic.protocol import Rollout, TokenStats, check_entropy_mode, demonstrations_per_group
from entropic.tasks import Verdict, answer_id, shaped_reward

STREAM_ROLLOUT, STREAM_EVAL, STREAM_REDRAW = 0, 1, 2


class HFBackend:
    """A causal LM trained by RL on a verifiable text task.

    Parameters
    ----------
    config : HFConfig
        Model, task, sampling and update settings.
    num_runs : int
        Must be 1: several seeds or trials are several processes (Hydra multirun).
    seeds : sequence of int, optional
        The run's seed (default 0).
    """

    def __init__(self, config: HFConfig, num_runs: int = 1, seeds: Sequence[int] | None = None) -> None:
        if num_runs != 1:
            raise ValueError(f"num_runs={num_runs}: the LLM backend trains one run per process; run seeds or trials "
                             f"as separate processes, e.g. entropic-train -m backend=hf_tiny seed=0,1,2")
        self.config, self.num_runs = config, 1
        self.seed = int(seeds[0]) if seeds else 0
        self.device = config.resolved_device()
        self.task = make_task(config.task, config.task_args)
        self.tokenizer = load_tokenizer(config)
        self.train_problems = self.task.problems("train", config.num_train_problems, config.task_seed)
        self.eval_problems = self.task.problems("eval", config.num_eval_problems, config.task_seed)
        if not self.train_problems or not self.eval_problems:
            raise ValueError(f"backend.task={config.task!r} gave no problems for training or evaluation; check "
                             f"backend.task_args")
        if config.model is None:
            model = tiny_model(config, self.tokenizer)
            self.warm_start = load_or_warm_start(model, self.tokenizer, self.task, config)
        else:
            model, self.warm_start = load_model(config), {}
        self._check_context(model)
        model.to(self.device)
        for module in model.modules():  # the policy that samples is the one that is scored
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        self.reference = copy.deepcopy(model).requires_grad_(False) if config.use_reference and \
            not config.lora_rank else None
        self.reference_adapter: dict[str, torch.Tensor] | None = None  # LoRA: adapter weights at the last reset
        self.model = add_lora(model, config) if config.lora_rank else model
        if config.gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
        self.model.eval()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer, self.schedule = make_optimizer(self.params, config)
        self.max_entropy = math.log(self.model.get_output_embeddings().weight.shape[0])
        self.critic = ValueHead(config, self.model.get_output_embeddings().weight.shape[1], self.device) \
            if config.critic else None
        demonstrations = demonstrations_per_group(config.off_policy_share, config.group_size, "backend")
        self._off_policy = (torch.arange(config.num_prompts * config.group_size, device=self.device)
                            % config.group_size < demonstrations) if demonstrations else None  # [B]
        self.rollouts = 0
        self.step_count = 0
        self._problem_weights: torch.Tensor | None = None  # [n]: the curriculum's, uniform while None

    @property
    def prompt_pool(self) -> int:
        """The training problems rollouts draw from (:class:`~entropic.protocol.SupportsCurriculum`)."""
        return len(self.train_problems)

    def prompt_index(self, rollout: Rollout) -> torch.Tensor:
        """Index of each row's problem in the training problems ``[B]``."""
        return rollout.extras["problem"]

    def set_prompt_weights(self, weights: torch.Tensor) -> None:
        """Draw the problems from ``weights`` ``[1, n]`` from now on (``torch.multinomial`` with replacement on
        the draw's own generator)."""
        if weights.shape != (1, len(self.train_problems)):
            raise ValueError(f"set_prompt_weights needs weights [1, {len(self.train_problems)}], got "
                             f"{list(weights.shape)}")
        self._problem_weights = weights[0].detach().to("cpu", torch.float64)

    def _check_context(self, model: torch.nn.Module) -> None:
        """Refuse prompts that with ``max_new_tokens`` do not fit the model's context."""
        limit = context_length(model)
        if limit is None:
            return
        longest = max(len(ids) for ids in self.tokenizer([p.prompt for p in self.train_problems[:256]])["input_ids"])
        if longest + self.config.max_new_tokens > limit:
            raise ValueError(f"a prompt of {longest} tokens plus backend.max_new_tokens={self.config.max_new_tokens} "
                             f"exceeds the model's context of {limit} positions; shorten the prompts or lower "
                             f"backend.max_new_tokens")

    def _autocast(self) -> torch.autocast:
        """bfloat16 autocast of the forward passes when ``config.autocast`` (float32 weights and optimizer)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.autocast)

    @contextmanager
    def _stream(self, stream: int, counter: int) -> Iterator[None]:
        """Torch's RNG seeded by ``(seed, stream, counter)`` inside, restored after."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, device_type=self.device.type):
            torch.manual_seed((self.seed * 1_000_003 + stream) * 1_000_003 + counter)
            yield

    # ------------------------------------------------------------ sampling
    def _sample(self, problems: list[TextProblem], samples: int, stream: int, counter: int
                ) -> tuple[torch.Tensor, torch.Tensor, Any, list[Verdict]]:
        """``samples`` responses to each of ``problems`` (rows in problem order): prompts, sample, verdicts."""
        config = self.config
        prompts = [p.prompt for p in problems for _ in range(samples)]
        prompt_ids, prompt_mask = encode_prompts(self.tokenizer, prompts, config.chat_template, self.device)
        with torch.no_grad(), self._stream(stream, counter), self._autocast():
            drawn = sample(self.model, prompt_ids, prompt_mask, max_new_tokens=config.max_new_tokens,
                           temperature=config.temperature, top_p=config.top_p,
                           eos_token_id=self.tokenizer.eos_token_id, pad_token_id=self.tokenizer.pad_token_id)
        texts = decode_responses(self.tokenizer, drawn.tokens, drawn.mask)
        seen: dict[tuple[int, str | None], Verdict] = {}
        verdicts = []
        for row, text in enumerate(texts):
            key = (row // samples, text)
            if key not in seen:
                seen[key] = self.task.verify(problems[row // samples], text)
            verdicts.append(seen[key])
        return prompt_ids, prompt_mask, drawn, verdicts

    def rollout(self) -> Rollout:
        """``num_prompts`` problems x ``group_size`` responses, verified and scored teacher-forced.

        Returns
        -------
        Rollout
            ``tokens``, ``mask`` ``[B, T]`` (``T = max_new_tokens``, EOS included in the mask);
            ``rewards [B]`` (:func:`entropic.tasks.shaped_reward`); ``group``: the prompt of each row;
            ``old_log_probs`` (``config.old_log_probs``); ``sample_log_probs`` (the sampler's, see
            :mod:`entropic.llm.sampling`);
            ``ref_log_probs`` when ``use_reference``; ``prompts``/``prompt_mask`` (left-padded ids);
            ``answer``: the id of each verdict's parsed answer (-1 for none, :func:`entropic.tasks.answer_id`);
            ``off_policy`` with ``off_policy_share`` (demonstrations: ``old_log_probs`` and ``sample_log_probs``
            0, the demonstrator's ``pi_phi = 1``); ``verified_steps`` for a task that checks steps (the arithmetic
            tasks; ``None`` otherwise); ``extras``: ``correct`` and ``well_formed`` (0/1), ``problem``
            (the index of each row's problem in the training problems; drawn uniformly, or from the curriculum's
            weights, :meth:`set_prompt_weights`).
        """
        rollout = self._draw(STREAM_ROLLOUT, self.rollouts)
        self.rollouts += 1
        return rollout

    def redraw(self, draw: int) -> Rollout:
        """Draw ``draw`` (``>= 1``) of the last rollout's step (:class:`~entropic.protocol.SupportsRedraw`): new
        problems and responses from the same policy, on stream ``STREAM_REDRAW`` at ``(rollout, draw)``; no
        counter moves."""
        if self.rollouts == 0 or draw < 1:
            raise ValueError(f"redraw({draw}) needs draw >= 1 after a rollout (rollouts so far: {self.rollouts})")
        return self._draw(STREAM_REDRAW, (self.rollouts - 1) * 1_000_003 + draw)

    def _draw(self, stream: int, counter: int) -> Rollout:
        """The rollout of :meth:`rollout` drawn from RNG stream ``stream`` at ``counter``."""
        config = self.config
        P, G = config.num_prompts, config.group_size
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + stream) * 1_000_003 + counter)
        index = torch.randint(len(self.train_problems), (P,), generator=generator) if self._problem_weights is None \
            else torch.multinomial(self._problem_weights, P, replacement=True, generator=generator)  # [P]
        problems = [self.train_problems[i] for i in index.tolist()]
        prompt_ids, prompt_mask, drawn, verdicts = self._sample(problems, G, stream, counter)
        if self._off_policy is not None:
            drawn, verdicts = self._demonstrate(problems, drawn, verdicts)
        correct = torch.tensor([v.correct for v in verdicts], dtype=torch.float32, device=self.device)
        well_formed = torch.tensor([v.well_formed for v in verdicts], dtype=torch.float32, device=self.device)
        rewards = shaped_reward(correct, well_formed.bool(), drawn.mask.sum(-1), config.max_new_tokens,
                                config.format_penalty, config.overlong_buffer_len, config.overlong_penalty_factor)
        rollout = Rollout(tokens=drawn.tokens, mask=drawn.mask, rewards=rewards,
                          group=torch.arange(P, device=self.device).repeat_interleave(G),
                          old_log_probs=torch.zeros_like(drawn.mask), sample_log_probs=drawn.log_probs,
                          prompts=prompt_ids, prompt_mask=prompt_mask,
                          answer=torch.tensor([answer_id(v.answer) for v in verdicts], device=self.device),
                          off_policy=self._off_policy, verified_steps=self._verified_steps(problems, drawn),
                          extras={"correct": correct, "well_formed": well_formed,
                                  "problem": index.to(self.device).repeat_interleave(G)})
        with torch.no_grad():
            rollout.old_log_probs = drawn.log_probs if config.old_log_probs == "sampler" else \
                self.score(rollout, "none").log_probs
            if self._off_policy is not None:
                rollout.old_log_probs = rollout.old_log_probs.masked_fill(self._off_policy.unsqueeze(-1), 0.0)
            if config.use_reference:
                rollout.ref_log_probs = self._reference_log_probs(rollout)
            if self.critic is not None:
                with self._autocast():
                    hidden = response_hidden(self.model, prompt_ids, prompt_mask, drawn.tokens, drawn.mask)
                rollout.extras[FEATURES] = hidden.float()
                rollout.values = self.critic.values(rollout.extras[FEATURES])
        return rollout

    def _verified_steps(self, problems: list[TextProblem], drawn: Sample) -> torch.Tensor | None:
        """``Rollout.verified_steps`` ``[B, T]`` of ``drawn`` (rows in problem order, ``group_size`` each): the tokens
        of the steps the task verifies (:class:`~entropic.llm.tasks.SupportsSteps`), ``None`` for a task without."""
        if not isinstance(self.task, SupportsSteps):
            return None
        G = self.config.group_size
        texts = decode_responses(self.tokenizer, drawn.tokens, drawn.mask)
        characters = [self.task.verified_characters(problems[row // G], text) for row, text in enumerate(texts)]
        return token_flags(self.tokenizer, drawn.tokens, drawn.mask, characters)

    def _demonstrate(self, problems: list[TextProblem], drawn: Sample, verdicts: list[Verdict]
                     ) -> tuple[Sample, list[Verdict]]:
        """``drawn`` and ``verdicts`` with each group's demonstration rows (``self._off_policy``) replaced by the
        problem's reference answer and EOS (cut at ``max_new_tokens``), verified; their log-probs 0."""
        G = self.config.group_size
        rows = self._off_policy.nonzero().flatten()
        shown = [problems[row // G] for row in rows.tolist()]
        tokens, mask = encode_answers(self.tokenizer, [problem.answer for problem in shown], drawn.tokens.shape[1],
                                      self.device)
        verdicts = list(verdicts)
        for row, problem, text in zip(rows.tolist(), shown, decode_responses(self.tokenizer, tokens, mask),
                                      strict=True):
            verdicts[row] = self.task.verify(problem, text)
        return replace(drawn, tokens=drawn.tokens.index_copy(0, rows, tokens),
                       mask=drawn.mask.index_copy(0, rows, mask.to(drawn.mask.dtype)),
                       log_probs=drawn.log_probs.index_fill(0, rows, 0.0)), verdicts

    # ------------------------------------------------------------ scoring
    def _token_stats(self, model: torch.nn.Module, rollout: Rollout, entropy: str
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
        config = self.config
        with self._autocast():
            hidden = response_hidden(model, rollout.prompts, rollout.prompt_mask, rollout.tokens, rollout.mask)
            return token_stats(hidden, rollout.tokens, rollout.mask, model.get_output_embeddings(),
                               config.temperature, entropy, config.logits_chunk_rows,
                               config.entropy_top_k if config.entropy_estimator == "topk" else None)

    def score(self, rollout: Rollout, entropy: str = "grad") -> TokenStats:
        """Log-probs ``[B, T]`` of ``rollout``'s tokens under the current weights, with grad, and the entropy
        ``entropy`` asks for (``config.entropy_estimator``: exact, top-k, or ``-log pi`` of the sampled token)."""
        check_entropy_mode(entropy)
        exact = "none" if self.config.entropy_estimator == "sampled" else entropy
        if self.config.gradient_checkpointing and torch.is_grad_enabled():
            self.model.train()  # transformers checkpoints only in training mode; dropout is off
        try:
            log_probs, values = self._token_stats(self.model, rollout, exact)
        finally:
            self.model.eval()
        if entropy != "none" and values is None:  # the sampled-token estimate
            values = -log_probs if entropy == "grad" else -log_probs.detach()
        return TokenStats(log_probs=log_probs, entropy=values)

    def _reference_log_probs(self, rollout: Rollout) -> torch.Tensor:
        """Log-probs ``[B, T]`` under the reference: the frozen copy, or with LoRA the base model plus the
        adapter weights saved at the last reset (none before the first)."""
        if self.reference is not None:
            return self._token_stats(self.reference, rollout, "none")[0]
        if self.reference_adapter is None:
            with self.model.disable_adapter():
                return self._token_stats(self.model, rollout, "none")[0]
        current = self._adapter_state()
        self._load_adapter(self.reference_adapter)
        try:
            return self._token_stats(self.model, rollout, "none")[0]
        finally:
            self._load_adapter(current)

    def _adapter_state(self) -> dict[str, torch.Tensor]:
        return {name: p.detach().clone() for name, p in self.model.named_parameters() if p.requires_grad}

    def _load_adapter(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                if name in state:
                    p.copy_(state[name])

    # ------------------------------------------------------------ update
    def backward(self, loss: torch.Tensor) -> None:
        """Back-propagate the loss ``[1]``, adding to the gradients."""
        if tuple(loss.shape) != (1,):
            raise ValueError(f"backward needs one loss per run, shape [1], got {list(loss.shape)}")
        if loss.requires_grad:
            loss.sum().backward()

    def step(self) -> dict[str, torch.Tensor]:
        """Clip, step AdamW and its schedule, clear the gradients.

        Returns ``grad/norm`` (before clipping) and ``actor/lr`` (the rate this step used), each ``[1]``.
        """
        max_norm = self.config.max_grad_norm if self.config.max_grad_norm is not None else math.inf
        norm = torch.nn.utils.clip_grad_norm_(self.params, max_norm)
        lr = self.schedule.get_last_lr()[0]
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step_count += 1
        return {"grad/norm": norm.detach().float().reshape(1), "actor/lr": torch.tensor([lr], device=self.device)}

    # ------------------------------------------------------------ evaluation
    def evaluate(self) -> dict[str, torch.Tensor]:
        """Held-out metrics ``[1]``: ``eval/pass@k`` (unbiased, from ``eval_samples`` responses a problem),
        ``eval/entropy`` (mean token entropy of those responses), ``eval/length``, ``eval/format_ok``."""
        config = self.config
        n = config.eval_samples
        batch = max(1, (config.num_prompts * config.group_size) // n)  # problems per generate call
        correct, well_formed, lengths, entropy_sum, tokens = [], [], [], 0.0, 0.0
        for start in range(0, len(self.eval_problems), batch):
            problems = self.eval_problems[start:start + batch]
            prompt_ids, prompt_mask, drawn, verdicts = self._sample(problems, n, STREAM_EVAL,
                                                                    self.step_count * 1_000_003 + start)
            correct += [v.correct for v in verdicts]
            well_formed += [v.well_formed for v in verdicts]
            lengths.append(drawn.mask.sum(-1))
            rows = Rollout(tokens=drawn.tokens, mask=drawn.mask, rewards=torch.zeros_like(drawn.mask[:, 0]),
                           group=torch.zeros_like(drawn.tokens[:, 0]), old_log_probs=drawn.log_probs,
                           prompts=prompt_ids, prompt_mask=prompt_mask)
            with torch.no_grad():
                entropy = self.score(rows, "detached").entropy
            entropy_sum += float((entropy * drawn.mask).sum())
            tokens += float(drawn.mask.sum())
        hits = torch.tensor(correct, dtype=torch.float64).view(-1, n).sum(-1)
        metrics = {f"eval/pass@{k}": pass_at_k(n, hits, k).mean() for k in config.eval_k}
        metrics.update({"eval/entropy": torch.tensor(entropy_sum / max(tokens, 1.0)),
                        "eval/length": torch.cat(lengths).float().mean(),
                        "eval/format_ok": torch.tensor(well_formed, dtype=torch.float64).mean()})
        return {name: value.float().reshape(1).to(self.device) for name, value in metrics.items()}

    # ------------------------------------------------------------ resets and resume
    def reset_reference(self) -> None:
        """Make the current policy the reference (ProRL's hard reset)."""
        if self.reference is not None:
            self.reference.load_state_dict(self.model.state_dict())
        elif self.config.lora_rank:
            self.reference_adapter = self._adapter_state()
        else:
            raise ValueError("trainer.reference_reset_every needs a reference: set backend.use_reference=true")

    def update_critic(self, rollout: Rollout, returns: torch.Tensor) -> dict[str, torch.Tensor]:
        """One step of the value head towards ``returns [B, T]`` (:class:`~entropic.protocol.SupportsCritic`)."""
        if self.critic is None:
            raise ValueError("backend.critic=false: the LLM backend has no critic to train; set backend.critic=true")
        return self.critic.update(rollout, returns)

    def reset_optimizer(self) -> None:
        """Restart AdamW's moments and step counts (the learning-rate schedule goes on)."""
        self.optimizer.state = defaultdict(dict)

    def state_dict(self) -> dict[str, Any]:
        model = self.model.state_dict()
        if self.config.lora_rank:  # the adapters: the frozen base is rebuilt from its directory
            trainable = {name for name, p in self.model.named_parameters() if p.requires_grad}
            model = {name: value for name, value in model.items() if name in trainable}
        return {
            "model": model,
            "optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
            "reference": self.reference.state_dict() if self.reference is not None else None,
            "reference_adapter": self.reference_adapter, "rollouts": self.rollouts, "step_count": self.step_count,
            "critic": None if self.critic is None else self.critic.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"], strict=not self.config.lora_rank)
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        if self.reference is not None and state["reference"] is not None:
            self.reference.load_state_dict(state["reference"])
        self.reference_adapter = state["reference_adapter"]
        self.rollouts, self.step_count = state["rollouts"], state["step_count"]
        if (self.critic is None) != (state.get("critic") is None):
            raise ValueError("state_dict and backend disagree on the critic (backend.critic true in only one)")
        if self.critic is not None:
            self.critic.load_state_dict(state["critic"])


def make_backend(num_runs: int = 1, seeds: Sequence[int] | None = None, **fields: Any) -> HFBackend:
    """Hydra target of ``configs/backend/hf*.yaml``: validate ``fields`` as :class:`HFConfig`, build the backend."""
    fields = {name: OmegaConf.to_container(value) if isinstance(value, Container) else value
              for name, value in fields.items() if name != "_target_"}
    known = set(HFConfig.__dataclass_fields__)
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"backend.{unknown[0]} is not a field of the LLM backend; allowed fields: {sorted(known)}")
    return HFBackend(HFConfig(**fields), num_runs, seeds)


make_backend.max_runs = 1  # one run per process: tools that run R runs launch R processes (entropic.tuning.processes)
