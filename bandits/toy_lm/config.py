"""The toy LM's configuration (a Hydra structured config): task, model, warm start, RL."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from entropic.cache import cache_dir
from entropic.protocol import demonstrations_per_group
from entropic.sims.toy_lm.tasks import TASKS, VOCAB, Task

OPTIMIZERS = ("sgd", "adam")
DTYPES = ("float32", "float64")
PRETRAIN_FIELDS = ("task", "num_digits", "num_operands", "n_layer", "n_head", "n_embd", "max_response_len",
                   "pretrain_steps", "pretrain_batch_size", "pretrain_lr", "pretrain_eval_every", "demo_noise",
                   "init_accuracy", "init_entropy", "num_train_problems", "task_seed", "dtype")
"""The fields that determine the warm-start model (its cache key)."""


@dataclass
class ToyLMConfig:
    """A tiny causal transformer on a synthetic verifiable task, and how it is warm-started and trained.

    Attributes
    ----------
    task : str
        ``addition``, ``sort`` or ``countdown`` (:mod:`entropic.sims.toy_lm.tasks`). Default ``addition``.
    num_digits : int
        Digits per operand, a difficulty knob. Range ``[1, 4]``, default 2.
    num_operands : int
        Summands, list length or countdown numbers, a difficulty knob. Range ``[2, 6]``, default 2.
    max_response_len : int, optional
        L_max, response tokens generated at most (``<eos>`` included); a response cut there has no
        ``<eos>`` and is malformed. ``None`` (default): the longest correct response + 1 + 2.
    n_layer, n_head, n_embd : int
        Transformer depth, heads and width (``n_embd`` divisible by ``n_head``). Defaults 2, 4, 64.
    temperature : float
        Sampling temperature; ``score`` divides logits by it too (verl), so log-probs and entropy are
        those of the sampling distribution. Range ``> 0``, default 1.0.
    num_prompts : int
        P, prompts per rollout and run. Range ``>= 1``, default 16.
    group_size : int
        G, responses per prompt (verl ``rollout.n``). Range ``>= 1``, default 8.
    off_policy_share : float
        LUFFY's off-policy guidance: the share of each group's G responses replaced by the problem's
        verified solution, a demonstration (``Rollout.off_policy``), ``round(share * G)`` of them. Range
        ``[0, 1]``, default 0 (none; the ``luffy`` method preset sets 0.125, one of 8).
    format_penalty : float
        Subtracted from the reward of a malformed response (no ``<eos>``, unparsable). Range ``>= 0``,
        default 0 (reward is the verifier's 0/1).
    overlong_buffer_len : int
        L_buf of DAPO's overlong reward shaping (arXiv 2503.14476); 0 (default) turns it off.
        Range ``[0, max_response_len)``.
    overlong_penalty_factor : float
        DAPO's ``penalty_factor``. Range ``>= 0``, default 1.0.
    optimizer : str
        ``adam`` (default) or ``sgd``, per run (:mod:`entropic.sims.optim`).
    lr : float
        Learning rate (a backend may set one per run). Range ``> 0``, default 3e-4 (Adam moves every
        weight by about ``lr`` a step whatever its gradient's size, so on this model 1e-3 already
        erodes what the warm start knows and 2e-3 destroys it within 20 steps).
    adam_beta1, adam_beta2, adam_eps : float
        Adam's constants; defaults 0.9, 0.999, 1e-8.
    max_grad_norm : float, optional
        Per-run gradient clipping norm (verl ``grad_clip`` 1.0, the default); ``None`` = no clipping.
    critic : bool
        Learn a critic (VAPO's value model): a linear head per run on the policy's detached last hidden
        state before each response token (:class:`entropic.sims.critic.LinearCritic`), trained by its own
        ``optimizer`` of the same kind, clipped by ``max_grad_norm``, and fill ``Rollout.values``
        (``advantage.adv_estimator=gae`` reads them). Default False.
    critic_lr : float, optional
        The critic's learning rate, ``> 0``; ``None`` (default) = ``lr`` (the config's).
    cliprange_value : float
        verl ``critic.cliprange_value``. Range ``> 0``, default 0.5 (verl's).
    use_reference : bool
        Fill ``Rollout.ref_log_probs`` with the warm-start model's log-probs (KL terms need them);
        False saves a forward pass. Default True.
    return_logits : bool
        Fill ``TokenStats.logits [B, T, V]`` (temperature-scaled). Default False.
    num_train_problems, num_eval_problems : int
        Sizes of the fixed training set (rollout prompts are drawn from it) and the held-out
        evaluation set. Defaults 4096 and 128.
    eval_samples : int
        Responses sampled per evaluation problem (sampled pass@k, entropy, length). Default 4.
    eval_k : list[int]
        The k of ``eval/pass@k``, each in ``[1, eval_samples]`` unless the task has one correct
        answer (then pass@k is exact). Default ``[1, 4]``.
    demo_noise : float
        Warm start: probability that each answer character of a demonstration is replaced by a
        random character of the task's alphabet. Range ``[0, 1)``, default 0.1.
    init_accuracy : float, optional
        Warm start: supervised training stops once the pass@1 (at temperature 1) of a held-out
        calibration set reaches this (exact for addition and sort, sampled for countdown).
        ``None`` trains ``pretrain_steps``. Range ``(0, 1)``, default 0.3.
    init_entropy : float, optional
        Warm start: the output logits are rescaled so that the mean token entropy along correct
        responses (teacher-forced, of the model's own distribution, i.e. at temperature 1) equals this
        (nats); sampling at another ``temperature`` changes the entropy the runs start from, as it
        would for a pretrained LLM. ``None`` = no rescaling. Range ``(0, log V)``, default 0.7.
    pretrain_steps : int
        Most supervised steps. Default 3000.
    pretrain_batch_size, pretrain_lr, pretrain_eval_every : int, float, int
        Demonstrations per step (default 128), AdamW learning rate (default 3e-3), steps between
        checks of ``init_accuracy`` (default 50).
    cache_dir : str, optional
        Where warm starts are cached by config hash; ``None``: ``$ENTROPIC_CACHE_DIR``, else
        ``$XDG_CACHE_HOME/entropic``, else ``~/.cache/entropic``. ``""`` disables the cache.
    task_seed : int
        Seed of the datasets and the warm start (shared by all runs).
    seed : int
        Sampling seed of run 0; run r uses ``seed + r`` unless seeds are given.
    dtype : str
        ``float32`` (default) or ``float64``.
    """

    task: str = "addition"
    num_digits: int = 2
    num_operands: int = 2
    max_response_len: int | None = None
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    temperature: float = 1.0
    num_prompts: int = 16
    group_size: int = 8
    off_policy_share: float = 0.0
    format_penalty: float = 0.0
    overlong_buffer_len: int = 0
    overlong_penalty_factor: float = 1.0
    optimizer: str = "adam"
    lr: float = 3e-4
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    max_grad_norm: float | None = 1.0
    critic: bool = False
    critic_lr: float | None = None
    cliprange_value: float = 0.5
    use_reference: bool = True
    return_logits: bool = False
    num_train_problems: int = 4096
    num_eval_problems: int = 128
    eval_samples: int = 4
    eval_k: list[int] = field(default_factory=lambda: [1, 4])
    demo_noise: float = 0.1
    init_accuracy: float | None = 0.3
    init_entropy: float | None = 0.7
    pretrain_steps: int = 3000
    pretrain_batch_size: int = 128
    pretrain_lr: float = 3e-3
    pretrain_eval_every: int = 50
    cache_dir: str | None = None
    task_seed: int = 0
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        _require("task", self.task in TASKS, f"one of {list(TASKS)}", self.task)
        _require("num_digits", 1 <= self.num_digits <= 4, "in [1, 4]", self.num_digits)
        _require("num_operands", 2 <= self.num_operands <= 6, "in [2, 6]", self.num_operands)
        shortest = self.make_task().max_answer_len + 1
        if self.max_response_len is None:
            self.max_response_len = shortest + 2
        _require("max_response_len", self.max_response_len >= shortest,
                 f">= {shortest} (the longest correct response and <eos>)", self.max_response_len)
        for name in ("n_layer", "n_head", "n_embd", "num_prompts", "group_size", "num_train_problems",
                     "num_eval_problems", "eval_samples", "pretrain_steps", "pretrain_batch_size",
                     "pretrain_eval_every"):
            _require(name, getattr(self, name) >= 1, ">= 1", getattr(self, name))
        demonstrations_per_group(self.off_policy_share, self.group_size, "ToyLMConfig")
        _require("n_embd", self.n_embd % self.n_head == 0, f"divisible by n_head={self.n_head}", self.n_embd)
        for name in ("temperature", "lr", "adam_eps", "pretrain_lr"):
            _require(name, getattr(self, name) > 0.0, "> 0", getattr(self, name))
        for name in ("format_penalty", "overlong_penalty_factor"):
            _require(name, getattr(self, name) >= 0.0, ">= 0", getattr(self, name))
        _require("overlong_buffer_len", 0 <= self.overlong_buffer_len < self.max_response_len,
                 f"in [0, max_response_len={self.max_response_len})", self.overlong_buffer_len)
        _require("optimizer", self.optimizer in OPTIMIZERS, f"one of {list(OPTIMIZERS)}", self.optimizer)
        _require("dtype", self.dtype in DTYPES, f"one of {list(DTYPES)}", self.dtype)
        for name in ("adam_beta1", "adam_beta2", "demo_noise"):
            _require(name, 0.0 <= getattr(self, name) < 1.0, "in [0, 1)", getattr(self, name))
        _require("max_grad_norm", self.max_grad_norm is None or self.max_grad_norm > 0.0, "> 0 or null",
                 self.max_grad_norm)
        _require("critic_lr", self.critic_lr is None or self.critic_lr > 0.0, "> 0 or null", self.critic_lr)
        _require("cliprange_value", self.cliprange_value > 0.0, "> 0", self.cliprange_value)
        limit = None if self.make_task().unique_answer else self.eval_samples
        _require("eval_k", len(self.eval_k) > 0 and all(isinstance(k, int) and 1 <= k <= (limit or k)
                                                        for k in self.eval_k),
                 "a non-empty list of integers >= 1" + (f", each <= eval_samples={limit}" if limit else ""),
                 self.eval_k)
        _require("init_accuracy", self.init_accuracy is None or 0.0 < self.init_accuracy < 1.0, "in (0, 1) or null",
                 self.init_accuracy)
        log_v = math.log(len(VOCAB))
        _require("init_entropy", self.init_entropy is None or 0.0 < self.init_entropy < log_v,
                 f"in (0, log V = {log_v:.4f}) or null", self.init_entropy)

    def make_task(self) -> Task:
        """The :class:`~entropic.sims.toy_lm.tasks.Task` these fields describe."""
        return Task(self.task, self.num_digits, self.num_operands)

    @property
    def torch_dtype(self) -> torch.dtype:
        """The ``torch.dtype`` named by ``dtype``."""
        return getattr(torch, self.dtype)

    def resolved_cache_dir(self) -> Path | None:
        """The warm-start cache directory, or ``None`` when caching is off."""
        return cache_dir(self.cache_dir)


def _require(name: str, ok: bool, allowed: str, value: object) -> None:
    if not ok:
        raise ValueError(f"ToyLMConfig.{name} must be {allowed}, got {value!r}")
