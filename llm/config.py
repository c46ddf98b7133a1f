"""The LLM backend's configuration (a Hydra structured config): model, task, sampling, update, warm start."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from entropic.protocol import demonstrations_per_group

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEVICES = ("auto", "cpu", "cuda")
ENTROPY_ESTIMATORS = ("exact", "sampled", "topk")
OLD_LOG_PROBS = ("recompute", "sampler")
ARCHITECTURES = ("qwen2", "llama")
TINY_FIELDS = ("task", "task_args", "architecture", "n_layer", "n_embd", "n_head", "n_kv_head", "max_new_tokens",
               "pretrain_steps", "pretrain_batch_size", "pretrain_lr", "pretrain_eval_every", "demo_noise",
               "init_accuracy", "temperature", "num_train_problems", "chat_template", "task_seed")
"""The fields that determine the tiny model's warm start (its cache key)."""


@dataclass
class HFConfig:
    """A causal LM from Hugging Face transformers on a verifiable text task, and how RL updates it.

    Attributes
    ----------
    model : str, optional
        A local model directory (or a name already in the Hugging Face cache) for
        ``AutoModelForCausalLM``. ``None`` (default): the tiny model built in memory from
        ``architecture`` .. ``n_kv_head``, with a character tokenizer, warm-started on the task.
    tokenizer : str, optional
        Tokenizer directory; ``None`` = ``model``'s.
    dtype : str
        Parameter dtype: ``float32`` (default), or ``bfloat16`` / ``float16`` (a GPU only).
        Log-probs and entropies are computed in float32 whatever the dtype.
    device : str
        ``auto`` (default: CUDA when present), ``cpu`` or ``cuda``.
    autocast : bool
        Run the forward passes under bfloat16 autocast with float32 weights, gradients and optimizer state
        (mixed precision; meant for a GPU with ``dtype=float32``). Default False.
    attn_implementation : str, optional
        transformers' attention implementation (``sdpa``, ``eager``, ``flash_attention_2``);
        ``None``: transformers' choice.
    gradient_checkpointing : bool
        Recompute activations in backward (memory for time). Default False.
    lora_rank : int
        0 (default): full fine-tuning; ``> 0``: LoRA adapters of this rank through ``peft`` on
        ``lora_target_modules``, the base frozen.
    lora_alpha, lora_dropout : float
        LoRA's scale numerator and dropout. Defaults 32 and 0.
    lora_target_modules : list[str]
        Module names that get adapters. Default the attention projections.
    task : str
        The text task (``entropic.llm.tasks``): ``addition`` (default), ``sort``, ``countdown``,
        ``reasoning_gym``, ``file``, ``math``.
    task_args : dict, optional
        The task's arguments (``num_digits``; a reasoning-gym ``dataset``; a file ``path``); ``None``: the
        task's defaults (two-digit operands for the arithmetic tasks).
    chat_template : bool
        Wrap prompts in the tokenizer's chat template when it has one (default True).
    num_prompts : int
        P, prompts per rollout. Default 16.
    group_size : int
        G, responses per prompt (verl ``rollout.n``). Default 8.
    off_policy_share : float
        LUFFY's off-policy guidance: the share of each group's G responses replaced by the problem's
        reference answer (the task's ``TextProblem.answer``, followed by EOS and cut at ``max_new_tokens``),
        a demonstration (``Rollout.off_policy``) verified like a sample, ``round(share * G)`` of them. Range
        ``[0, 1]``, default 0 (none; the ``luffy`` method preset sets 0.125, one of 8).
    max_new_tokens : int
        Response tokens generated at most (the end-of-sequence token included). Default 8.
    temperature : float
        Sampling temperature; ``score`` divides the logits by it too, so log-probs and entropy are
        those of the sampling distribution (verl). Default 1.0.
    top_p : float
        Nucleus sampling mass in ``(0, 1]``; the sampler's own log-probs (``sample_log_probs``) are
        those of the renormalised nucleus, the policy's (``old_log_probs``) those of the full
        distribution at ``temperature``. Default 1.0.
    format_penalty, overlong_buffer_len, overlong_penalty_factor :
        Reward shaping (:func:`entropic.tasks.shaped_reward`): a malformed response's penalty and
        DAPO's overlong buffer (arXiv 2503.14476). Defaults 0, 0 (off) and 1.
    lr : float
        AdamW's peak learning rate. Default 1e-4.
    weight_decay, adam_beta1, adam_beta2, adam_eps : float
        AdamW's constants. Defaults 0, 0.9, 0.999, 1e-8.
    warmup_steps : int
        Optimizer steps of linear warm-up from 0 to ``lr``. Default 0.
    decay_steps : int
        Optimizer steps of the cosine decay after warm-up, to ``min_lr_ratio * lr``; 0 (default) keeps
        ``lr`` constant.
    min_lr_ratio : float
        Where the cosine ends, as a share of ``lr``. Default 0.
    max_grad_norm : float, optional
        Gradient clipping norm (verl ``grad_clip``, default 1.0); ``None``: none.
    critic : bool
        Learn a critic (VAPO's value model): a linear value head on the policy's detached last hidden state
        (:class:`entropic.llm.critic.ValueHead`) with its own AdamW, and fill ``Rollout.values``
        (``advantage.adv_estimator=gae`` reads them). Default False.
    critic_lr : float, optional
        The critic's peak learning rate, ``> 0``; ``None`` (default) = ``lr``.
    cliprange_value : float
        verl ``critic.cliprange_value``, ``> 0``. Default 0.5 (verl's).
    old_log_probs : str
        Where ``Rollout.old_log_probs`` come from: ``recompute`` (default; a teacher-forced pass over the
        responses after sampling, as verl does) or ``sampler`` (the sampler's own log-probs, as TRL does
        on-policy: one forward pass fewer a step; needs ``top_p = 1``, and differs from a recomputation by
        float32 rounding between the cached and the full forward).
    use_reference : bool
        Keep a frozen reference policy and fill ``Rollout.ref_log_probs`` (KL terms need it). Default False.
    entropy_estimator : str
        What ``score`` reports as token entropy: ``exact`` (default; the full-vocabulary entropy of
        the sampling distribution, one pass over the LM head's logits) or ``sampled`` (``-log pi`` of
        the sampled token: an unbiased single-sample estimate of the same entropy, no extra pass,
        variance about that of the log-prob) or ``topk`` (the entropy of the ``entropy_top_k`` most probable
        tokens renormalised: biased low by the dropped tail, at most ``log k``; it saves only the
        entropy's own pass, not the LM head).
    entropy_top_k : int
        The ``k`` of ``topk``. Default 64.
    logits_chunk_rows : int
        Token rows per block of the LM head in ``score``: only a ``[rows, V]`` float32 block exists at
        once. Default 2048 (verl's).
    num_train_problems : int
        The pool rollout prompts are drawn from (and the warm start's demonstrations). Default 4096.
    num_eval_problems, eval_samples : int
        Held-out problems and responses sampled per problem in ``evaluate()``. Defaults 128 and 4.
    eval_k : list[int]
        The k of ``eval/pass@k`` (unbiased estimator), each in ``[1, eval_samples]``. Default [1, 4].
    architecture : str
        The tiny model's: ``qwen2`` (default) or ``llama``.
    n_layer, n_embd, n_head, n_kv_head : int
        The tiny model's depth, width, attention heads and key/value heads. Defaults 2, 128, 4, 2.
    pretrain_steps, pretrain_batch_size, pretrain_lr, pretrain_eval_every :
        The tiny model's warm start: supervised steps at most, batch, AdamW rate, and how often the
        teacher-forced pass@1 is checked against ``init_accuracy``. Defaults 2000, 128, 3e-3, 25.
    demo_noise : float
        Probability that each answer character of a demonstration is replaced by a random one of the
        task's alphabet. Default 0.1.
    init_accuracy : float
        The warm start stops once its exact teacher-forced pass@1 (at ``temperature``) reaches this.
        Default 0.3.
    cache_dir : str, optional
        Where the tiny warm start is cached by config hash (:func:`entropic.cache.cache_dir`).
    task_seed : int
        Seed of the task's problems and of the tiny model's initialisation and warm start.
    """

    model: str | None = None
    tokenizer: str | None = None
    dtype: str = "float32"
    device: str = "auto"
    autocast: bool = False
    attn_implementation: str | None = None
    gradient_checkpointing: bool = False
    lora_rank: int = 0
    lora_alpha: float = 32.0
    lora_dropout: float = 0.0
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    task: str = "addition"
    task_args: dict[str, Any] | None = None
    chat_template: bool = True
    num_prompts: int = 16
    group_size: int = 8
    off_policy_share: float = 0.0
    max_new_tokens: int = 8
    temperature: float = 1.0
    top_p: float = 1.0
    format_penalty: float = 0.0
    overlong_buffer_len: int = 0
    overlong_penalty_factor: float = 1.0
    lr: float = 1e-4
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    warmup_steps: int = 0
    decay_steps: int = 0
    min_lr_ratio: float = 0.0
    max_grad_norm: float | None = 1.0
    critic: bool = False
    critic_lr: float | None = None
    cliprange_value: float = 0.5
    old_log_probs: str = "recompute"
    use_reference: bool = False
    entropy_estimator: str = "exact"
    entropy_top_k: int = 64
    logits_chunk_rows: int = 2048
    num_train_problems: int = 4096
    num_eval_problems: int = 128
    eval_samples: int = 4
    eval_k: list[int] = field(default_factory=lambda: [1, 4])
    architecture: str = "qwen2"
    n_layer: int = 2
    n_embd: int = 128
    n_head: int = 4
    n_kv_head: int = 2
    pretrain_steps: int = 2000
    pretrain_batch_size: int = 128
    pretrain_lr: float = 3e-3
    pretrain_eval_every: int = 25
    demo_noise: float = 0.1
    init_accuracy: float = 0.3
    cache_dir: str | None = None
    task_seed: int = 0

    def __post_init__(self) -> None:
        _require("dtype", self.dtype in DTYPES, f"one of {list(DTYPES)}", self.dtype)
        _require("device", self.device in DEVICES, f"one of {list(DEVICES)}", self.device)
        _require("entropy_estimator", self.entropy_estimator in ENTROPY_ESTIMATORS,
                 f"one of {list(ENTROPY_ESTIMATORS)}", self.entropy_estimator)
        _require("architecture", self.architecture in ARCHITECTURES, f"one of {list(ARCHITECTURES)}",
                 self.architecture)
        for name in ("num_prompts", "group_size", "max_new_tokens", "logits_chunk_rows", "entropy_top_k",
                     "num_train_problems", "num_eval_problems", "eval_samples", "n_layer", "n_embd", "n_head",
                     "n_kv_head", "pretrain_batch_size", "pretrain_eval_every"):
            _require(name, getattr(self, name) >= 1, ">= 1", getattr(self, name))
        for name in ("lora_rank", "overlong_buffer_len", "warmup_steps", "decay_steps", "pretrain_steps",
                     "format_penalty", "overlong_penalty_factor", "weight_decay", "lora_dropout"):
            _require(name, getattr(self, name) >= 0, ">= 0", getattr(self, name))
        for name in ("lr", "temperature", "adam_eps", "pretrain_lr"):
            value = getattr(self, name)
            _require(name, math.isfinite(value) and value > 0, "a finite number > 0", value)
        _require("top_p", 0.0 < self.top_p <= 1.0, "in (0, 1]", self.top_p)
        demonstrations_per_group(self.off_policy_share, self.group_size, "backend")
        _require("old_log_probs", self.old_log_probs in OLD_LOG_PROBS, f"one of {list(OLD_LOG_PROBS)}",
                 self.old_log_probs)
        _require("old_log_probs", self.old_log_probs == "recompute" or self.top_p == 1.0,
                 "recompute when top_p < 1 (the sampler's nucleus log-probs are not the policy's)", self.old_log_probs)
        _require("min_lr_ratio", 0.0 <= self.min_lr_ratio <= 1.0, "in [0, 1]", self.min_lr_ratio)
        for name in ("adam_beta1", "adam_beta2", "demo_noise", "init_accuracy"):
            _require(name, 0.0 <= getattr(self, name) < 1.0, "in [0, 1)", getattr(self, name))
        _require("max_grad_norm", self.max_grad_norm is None or self.max_grad_norm > 0, "> 0 or null",
                 self.max_grad_norm)
        _require("critic_lr", self.critic_lr is None or self.critic_lr > 0, "> 0 or null", self.critic_lr)
        _require("cliprange_value", self.cliprange_value > 0, "> 0", self.cliprange_value)
        _require("overlong_buffer_len", self.overlong_buffer_len < self.max_new_tokens,
                 f"< max_new_tokens ({self.max_new_tokens})", self.overlong_buffer_len)
        _require("eval_k", bool(self.eval_k) and all(1 <= k <= self.eval_samples for k in self.eval_k),
                 f"a non-empty list of k in [1, eval_samples={self.eval_samples}]", self.eval_k)
        _require("n_embd", self.n_embd % self.n_head == 0, f"divisible by n_head={self.n_head}", self.n_embd)
        _require("n_kv_head", self.n_head % self.n_kv_head == 0, f"a divisor of n_head={self.n_head}",
                 self.n_kv_head)
        if self.dtype != "float32" and self.resolved_device().type == "cpu":
            raise ValueError(f"backend.dtype={self.dtype} needs a GPU, but the backend runs on the CPU "
                             f"(backend.device={self.device}); use backend.dtype=float32 on a CPU")

    def resolved_device(self) -> torch.device:
        """The device ``device`` names (``auto``: CUDA when available)."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("backend.device=cuda but no CUDA device is available; use backend.device=cpu or auto")
        return torch.device(self.device)

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]


def _require(name: str, ok: bool, allowed: str, value: object) -> None:
    if not ok:
        raise ValueError(f"backend.{name} must be {allowed}, got {value!r}")
