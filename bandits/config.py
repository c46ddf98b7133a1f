"""The contextual softmax bandit's configuration (a Hydra structured config)."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field

import torch

from entropic.protocol import demonstrations_per_group

MODES = ("sampled", "exact")
PARAMETERIZATIONS = ("tabular", "low_rank", "features")
OPTIMIZERS = ("sgd", "adam")
DTYPES = ("float32", "float64")
MAX_EXACT_RESPONSES = 65536
"""Largest number of enumerated responses per prompt (``num_arms ** seq_len``) in exact mode."""


@dataclass
class BanditConfig:
    """A contextual softmax bandit with verifiable (binary) rewards, and how its policy is trained.

    Attributes
    ----------
    num_prompts : int
        P, number of prompts (contexts). Range ``>= 1``, default 64.
    num_arms : int
        K, number of arms (the "vocabulary"). Range ``>= 2``, default 32.
    num_correct : int
        C, correct arms per prompt (and per position when ``seq_len > 1``). Range ``[1, num_arms)``,
        default 8, so the largest entropy at full accuracy is ``log C``.
    group_size : int
        G, sampled responses per prompt (GRPO group, verl ``rollout.n``); in exact mode the weights
        of a prompt's enumerated responses sum to G. Range ``>= 1``, default 8.
    seq_len : int
        T, tokens per response. 1 (default) is the one-step bandit. ``T > 1`` draws one arm per
        position from position-wise logits; a response is correct iff every token lies in its
        position's correct set. Range ``>= 1``.
    mode : str
        ``sampled``: G responses per prompt drawn from the policy. ``exact``: every response
        enumerated once with weight ``G * pi(response)`` and its expected reward, so the objective
        is the exact expectation. Allowed: ``sampled``, ``exact``.
    parameterization : str
        ``tabular``: the logits ``[R, P, T, K]`` are the parameters. ``low_rank``: logits = prior +
        ``U_r V_r^T`` (``U [R, P, D]`` from the task seed, ``V [R, T, K, D]`` starting at 0).
        ``features``: logits = prior + ``x_p . W_r`` with fixed unit features ``x [P, D]`` and
        ``W [R, T, K, D]`` starting at 0. The last two couple the gradients of different prompts.
        Allowed: ``tabular``, ``low_rank``, ``features``.
    rank : int
        D, rank of ``low_rank`` and feature dimension of ``features``. Range ``>= 1``, default 8.
    init_entropy : float
        Mean token entropy of the initial policy over prompts and positions (nats). Range
        ``(0, log num_arms)``; targets the prior family cannot reach raise ``ValueError``. Default 2.5.
    init_accuracy : float
        Mean over prompts of the initial probability of a correct response (noise-free pass@1).
        Range ``(0, 1)``, default 0.1.
    difficulty_spread : float
        Standard deviation over prompts of the correct-arm logit offset (nats): 0 makes every
        prompt equally hard; larger values give hard prompts with almost no correct samples, so
        accuracy plateaus below 1 and negative samples persist. Range ``>= 0``, default 1.0.
    calibration_tol : float
        Tolerance to which the initial policy meets ``init_entropy`` (nats) and ``init_accuracy``.
        Range ``(0, 0.01]``, default 1e-6.
    reward_correct : float
        q, probability that a correct response earns reward 1. Range ``(0, 1]``, default 1.0.
    reward_wrong : float
        eps, probability that a wrong response earns reward 1 (false positive of the verifier).
        Range ``[0, reward_correct)``, default 0.0.
    task_seed : int
        Seed of the task instance (correct arms, prior, difficulty, features), shared by all runs.
    seed : int
        Sampling seed of run 0; run r uses ``seed + r`` unless the backend is given explicit seeds.
    optimizer : str
        ``sgd`` (plain gradient descent) or ``adam`` (torch.optim.Adam's update, no weight decay).
    lr : float
        Learning rate (a backend may override it per run). The token-mean loss averages over the
        ``P * G`` rows, so a tabular prompt's logits receive ``1/P`` of the gradient: SGD wants
        ``lr`` of order P (default 32.0); Adam, being scale-free, of order 0.01 to 0.1. Range ``> 0``.
    adam_beta1, adam_beta2 : float
        Adam's moment decay rates. Range ``[0, 1)``, defaults 0.9 and 0.999.
    adam_eps : float
        Adam's denominator guard. Range ``> 0``, default 1e-8.
    max_grad_norm : float, optional
        Clip each run's gradient to this L2 norm (torch ``clip_grad_norm_`` rule, per run);
        ``None`` (default) = no clipping. Range ``> 0``.
    eval_k : list[int]
        The k of the exact ``eval/pass@k`` metrics. Each ``>= 1``; default ``[1, 8, 64, 256]``.
    dtype : str
        Floating dtype of parameters and rollouts: ``float32`` (default) or ``float64``.
    return_logits : bool
        Fill ``TokenStats.logits [B, T, K]`` in ``score`` (default True); False saves a
        ``B x T x K`` copy, which matters in exact mode with many runs.
    use_reference : bool
        Fill ``Rollout.ref_log_probs`` (KL terms need them; default True); False saves a gather
        per rollout.
    off_policy_share : float
        LUFFY's off-policy guidance: the share of each group's G responses replaced by demonstrations
        (``Rollout.off_policy``), ``round(share * G)`` of them, drawn from an oracle that picks each
        position's arm uniformly among its correct ones, from the run's own random stream. Range
        ``[0, 1]``, default 0 (none; the ``luffy`` method preset sets 0.125, one of 8). Sampled mode only.
    critic : bool
        Learn a critic, a value per run, prompt and position (:mod:`entropic.sims.critic`, VAPO's value
        model), trained by its own ``optimizer`` of the same kind, clipped by ``max_grad_norm``, and fill
        ``Rollout.values`` (``advantage.adv_estimator=gae`` reads them). Default False; sampled mode only.
    critic_lr : float, optional
        The critic's learning rate, ``> 0``; ``None`` (default): ``P * T / 2`` with SGD, ``lr`` with Adam
        (:attr:`default_critic_lr`).
    cliprange_value : float
        verl ``critic.cliprange_value``: how far a critic step may move a value from the rollout's.
        Range ``> 0``, default 0.5 (verl's).
    """

    num_prompts: int = 64
    num_arms: int = 32
    num_correct: int = 8
    group_size: int = 8
    seq_len: int = 1
    mode: str = "sampled"
    parameterization: str = "tabular"
    rank: int = 8
    init_entropy: float = 2.5
    init_accuracy: float = 0.1
    difficulty_spread: float = 1.0
    calibration_tol: float = 1e-6
    reward_correct: float = 1.0
    reward_wrong: float = 0.0
    task_seed: int = 0
    seed: int = 0
    optimizer: str = "sgd"
    lr: float = 32.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    max_grad_norm: float | None = None
    eval_k: list[int] = field(default_factory=lambda: [1, 8, 64, 256])
    dtype: str = "float32"
    return_logits: bool = True
    use_reference: bool = True
    off_policy_share: float = 0.0
    critic: bool = False
    critic_lr: float | None = None
    cliprange_value: float = 0.5

    def __post_init__(self) -> None:
        _check_types(self)
        for name in ("num_prompts", "group_size", "seq_len", "rank"):
            _require(name, getattr(self, name) >= 1, ">= 1", getattr(self, name))
        _require("num_arms", self.num_arms >= 2, ">= 2", self.num_arms)
        _require("num_correct", 1 <= self.num_correct < self.num_arms, f"in [1, num_arms={self.num_arms})",
                 self.num_correct)
        for name, allowed in (("mode", MODES), ("parameterization", PARAMETERIZATIONS),
                              ("optimizer", OPTIMIZERS), ("dtype", DTYPES)):
            _require(name, getattr(self, name) in allowed, f"one of {list(allowed)}", getattr(self, name))
        log_k = math.log(self.num_arms)
        _require("init_entropy", 0.0 < self.init_entropy < log_k, f"in (0, log num_arms = {log_k:.4f})",
                 self.init_entropy)
        _require("init_accuracy", 0.0 < self.init_accuracy < 1.0, "in (0, 1)", self.init_accuracy)
        _require("difficulty_spread", self.difficulty_spread >= 0.0, ">= 0", self.difficulty_spread)
        _require("calibration_tol", 0.0 < self.calibration_tol <= 0.01, "in (0, 0.01]", self.calibration_tol)
        _require("reward_correct", 0.0 < self.reward_correct <= 1.0, "in (0, 1]", self.reward_correct)
        _require("reward_wrong", 0.0 <= self.reward_wrong < self.reward_correct,
                 f"in [0, reward_correct={self.reward_correct})", self.reward_wrong)
        _require("lr", self.lr > 0.0, "> 0", self.lr)
        for name in ("adam_beta1", "adam_beta2"):
            _require(name, 0.0 <= getattr(self, name) < 1.0, "in [0, 1)", getattr(self, name))
        _require("adam_eps", self.adam_eps > 0.0, "> 0", self.adam_eps)
        _require("max_grad_norm", self.max_grad_norm is None or self.max_grad_norm > 0.0, "> 0 or null",
                 self.max_grad_norm)
        _require("eval_k", len(self.eval_k) > 0 and all(isinstance(k, int) and k >= 1 for k in self.eval_k),
                 "a non-empty list of integers >= 1", self.eval_k)
        demonstrations_per_group(self.off_policy_share, self.group_size, "BanditConfig")
        _require("critic_lr", self.critic_lr is None or self.critic_lr > 0.0, "> 0 or null", self.critic_lr)
        _require("cliprange_value", self.cliprange_value > 0.0, "> 0", self.cliprange_value)
        _require("critic", self.mode == "sampled" or not self.critic,
                 "false in exact mode (the value loss has no row weights)", self.critic)
        _require("off_policy_share", self.mode == "sampled" or self.off_policy_share == 0.0,
                 "0 in exact mode (demonstrations replace sampled responses)", self.off_policy_share)
        if self.mode == "exact":
            _require("seq_len", self.num_arms ** self.seq_len <= MAX_EXACT_RESPONSES,
                     f"such that num_arms ** seq_len <= {MAX_EXACT_RESPONSES} in exact mode (every response "
                     f"is enumerated)", self.seq_len)

    @property
    def default_critic_lr(self) -> float:
        """The critic's learning rate when ``critic_lr`` is null. With SGD, ``P * T / 2``: the value loss is a
        mean over the ``P * G * T`` tokens, so a table entry's gradient is ``(V - mean return) / (P * T)`` and
        this rate moves it halfway to its batch's mean return each step, for any P and T (a rate above
        ``P * T`` diverges). With Adam, whose steps ignore the gradient's scale, ``lr``."""
        return self.num_prompts * self.seq_len / 2 if self.optimizer == "sgd" else self.lr

    @property
    def torch_dtype(self) -> torch.dtype:
        """The ``torch.dtype`` named by ``dtype``."""
        return getattr(torch, self.dtype)

    def memory_estimate(self, num_runs: int) -> int:
        """Bytes of the largest tensors of ``num_runs`` runs: the logits ``[R P T K]`` with their gradient and
        Adam's two moments, and one step's row logits ``[B T K]`` with their softmax and gradient, where
        ``B = R P G`` rows (``R P K^T``, twice that with reward noise, in exact mode)."""
        K, T = self.num_arms, self.seq_len
        responses = self.group_size if self.mode == "sampled" else \
            K ** T * (1 if (self.reward_correct, self.reward_wrong) == (1.0, 0.0) else 2)
        params = num_runs * self.num_prompts * T * K
        rows = num_runs * self.num_prompts * responses
        return self.torch_dtype.itemsize * (4 * params + 3 * rows * T * K)


_KINDS = {"int": (numbers.Integral, "an integer"), "float": (numbers.Real, "a number"),
          "bool": (bool, "true or false")}


def _check_types(config: BanditConfig) -> None:
    """Refuse a value of the wrong type (a word for a count, a list for a rate) naming the field."""
    for f in dataclasses.fields(config):
        value, optional = getattr(config, f.name), f.type.endswith(" | None")
        kind = _KINDS.get(f.type.removesuffix(" | None"))
        if kind is None or (optional and value is None):
            continue
        cls, allowed = kind
        _require(f.name, isinstance(value, cls) and (cls is bool or not isinstance(value, bool)),
                 allowed + (" or null" if optional else ""), value)


def _require(name: str, ok: bool, allowed: str, value: object) -> None:
    if not ok:
        raise ValueError(f"BanditConfig.{name} must be {allowed}, got {value!r}")
