"""The shapes every backend and every method speak.

One RL step, whatever the backend (softmax bandit, toy LM, a 7B model), is five moves, with the
controller setting the knobs before the loss (:meth:`entropic.loop.Trainer.train_step`, here with
one update per rollout batch)::

    rollout = backend.rollout()                                  # Rollout
    adv     = compute_advantages(rollout, advantage_config)      # [B, T]
    stats   = backend.score(rollout, entropy="grad")             # TokenStats, with grad
    control = controller.update(observe(step, rollout, stats, adv), control)   # Control
    loss, metrics = objective(PolicyBatch.from_step(rollout, stats, adv, generators), control)   # loss [R]
    backend.backward(loss); backend.step()                       # gradients, then one optimizer step

Only :class:`Backend` differs between simulators and real models. Tensors are
``[B, T]`` with ``B`` = prompts x group size (x runs), ``T`` the padded response
length (1 for a bandit). Independent runs that share a batch (vectorised
simulation, ``R`` of them) are told apart by ``run`` ids; every reduction in
``entropic`` is done per run, so a run gets the same loss alone or batched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol, runtime_checkable

import torch

from entropic._memo import memo
from entropic.control import Control


def _check_shape(name: str, tensor: torch.Tensor | None, shape: tuple[int, ...], owner: str) -> None:
    if tensor is not None and tuple(tensor.shape) != shape:
        raise ValueError(f"{owner}.{name} must have shape {list(shape)}, got {list(tensor.shape)}")


@dataclass
class Rollout:
    """A batch of sampled responses and what the sampler knew about them.

    Attributes
    ----------
    tokens : LongTensor [B, T]
        Response token ids (arm indices for a bandit).
    mask : FloatTensor [B, T]
        1 for valid response tokens (EOS included), 0 for padding.
    rewards : FloatTensor [B] or [B, T]
        Outcome reward per response, or token-level rewards (summed for outcome estimators).
    group : LongTensor [B]
        Group id (prompt) of each response; unique across runs.
    old_log_probs : FloatTensor [B, T]
        log pi_old of each token (policy that produced the batch), no grad.
    ref_log_probs : FloatTensor [B, T], optional
        log pi_ref of each token, for KL terms.
    sample_log_probs : FloatTensor [B, T], optional
        log-probs reported by the sampler (inference engine) when they differ from ``old_log_probs``.
    run : LongTensor [B], optional
        Independent-run id in ``[0, num_runs)``; ``None`` means one run.
    weights : FloatTensor [B], optional
        Weight of each response when the backend enumerates responses instead of sampling them
        (exact-expectation mode: ``G * pi(a)`` per arm, so a group's weights sum to its size G).
        ``None`` means sampled rows of weight 1. Advantage estimators use weighted group statistics
        and objectives weighted sums, so the loss is the expectation of the sampled loss.
    num_runs : int
        R, the number of independent runs in the batch.
    prompts : Tensor, optional
        Backend-specific prompt payload: prompt ids ``[B]`` (bandit) or token ids ``[B, T_prompt]``.
    prompt_mask : Tensor, optional
        ``[B, T_prompt]`` attention mask of ``prompts`` for token prompts.
    answer : LongTensor [B], optional
        Id of each response's final answer, the meaning that semantic entropy clusters responses by:
        two responses of one group with the same id ``>= 0`` give the same answer; ``-1`` marks a
        response without a parseable answer, which shares its meaning with no other. The bandit
        fills the arm (the response's index over ``K^T`` responses when ``T > 1``); the toy LM and
        the LLM backend the verifier's canonical answer text, hashed
        (:func:`entropic.tasks.answer_id`). ``None``: the backend does not parse answers.
    off_policy : BoolTensor [B], optional
        True for a demonstration: a response of a stronger policy put in the group in place of a
        sample (LUFFY's off-policy guidance, ``off_policy_share`` of each backend), verified like any
        response. Its ``old_log_probs`` (and ``sample_log_probs``) are the demonstrator's log-probs as
        LUFFY takes them, 0 (``pi_phi = 1``); ``ref_log_probs`` the reference's. ``None``: every row is
        the policy's own sample.
    verified_steps : BoolTensor [B, T], optional
        True on the response tokens that belong to steps an exact verifier accepts, in a wrong response as
        in a right one (:func:`entropic.tasks.verified_characters`: a correct prefix of a sum or a sorted
        list, a countdown operation from which the target is still reachable); False on padding. The toy LM
        fills it, the LLM backend for tasks with a step verifier (the arithmetic ones); ``None``: the backend
        has no steps to check (the bandit's responses are one decision).
        BCPG-NSA's credit reads it (:mod:`entropic.objectives.nsa`).
    values : FloatTensor [B, T], optional
        The critic's value ``V`` of the state before each response token, by the policy that sampled the
        batch, no grad (as ``old_log_probs``): filled by a backend with a critic
        (:class:`SupportsCritic`), read by ``adv_estimator=gae``. ``None``: no critic.
    extras : dict
        Further per-row tensors ``[B, ...]`` a backend or reward needs (correctness, problem ids, ...).
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    rewards: torch.Tensor
    group: torch.Tensor
    old_log_probs: torch.Tensor
    ref_log_probs: torch.Tensor | None = None
    sample_log_probs: torch.Tensor | None = None
    run: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    num_runs: int = 1
    prompts: torch.Tensor | None = None
    prompt_mask: torch.Tensor | None = None
    answer: torch.Tensor | None = None
    off_policy: torch.Tensor | None = None
    verified_steps: torch.Tensor | None = None
    values: torch.Tensor | None = None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def batch_size(self) -> int:
        return self.tokens.shape[0]

    @property
    def seq_len(self) -> int:
        return self.tokens.shape[1]

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field whose shape or range is wrong."""
        if self.tokens.dim() != 2:
            raise ValueError(f"Rollout.tokens must be [B, T], got shape {list(self.tokens.shape)}")
        B, T = self.tokens.shape
        _check_shape("mask", self.mask, (B, T), "Rollout")
        if self.rewards.shape not in ((B,), (B, T)):
            raise ValueError(f"Rollout.rewards must have shape [{B}] or [{B}, {T}], "
                             f"got {list(self.rewards.shape)}")
        _check_shape("group", self.group, (B,), "Rollout")
        for name in ("old_log_probs", "ref_log_probs", "sample_log_probs"):
            _check_shape(name, getattr(self, name), (B, T), "Rollout")
        _check_shape("run", self.run, (B,), "Rollout")
        _check_shape("weights", self.weights, (B,), "Rollout")
        _check_shape("answer", self.answer, (B,), "Rollout")
        _check_shape("off_policy", self.off_policy, (B,), "Rollout")
        _check_shape("verified_steps", self.verified_steps, (B, T), "Rollout")
        _check_shape("values", self.values, (B, T), "Rollout")
        if self.num_runs < 1:
            raise ValueError(f"Rollout.num_runs must be >= 1, got {self.num_runs}")
        if self.run is not None and B:
            low, high = memo(self.run, "range", (), lambda: (int(self.run.min()), int(self.run.max())))
            if low < 0 or high >= self.num_runs:
                raise ValueError(f"Rollout.run ids must lie in [0, {self.num_runs}), got [{low}, {high}]")
        for name, value in self.extras.items():
            if value.shape[:1] != (B,):
                raise ValueError(f"Rollout.extras[{name!r}] must have leading dimension B={B}, "
                                 f"got shape {list(value.shape)}")

    def run_ids(self) -> torch.Tensor:
        """LongTensor [B]: ``run``, or zeros when the batch holds a single run."""
        if self.run is not None:
            return self.run
        return torch.zeros(self.batch_size, dtype=torch.long, device=self.tokens.device)

    def lengths(self) -> torch.Tensor:
        """FloatTensor [B]: number of valid response tokens ``L_b``."""
        return self.mask.sum(-1)

    def sequence_rewards(self) -> torch.Tensor:
        """FloatTensor [B]: outcome reward; token-level rewards are summed over the whole row.

        The whole row, as verl's ``token_level_rewards.sum(-1)``: its reward managers write a
        response's score at position ``length - 1``, which for an empty response is ``-1``, a
        masked slot, and that score still counts in its group's statistics.
        """
        if self.rewards.dim() == 1:
            return self.rewards
        return self.rewards.sum(-1)

    def token_rewards(self) -> torch.Tensor:
        """FloatTensor [B, T]: token-level rewards; an outcome reward sits on the last valid token."""
        if self.rewards.dim() == 2:
            return self.rewards
        last = (self.mask.cumsum(-1) == self.mask.sum(-1, keepdim=True)) & (self.mask > 0)
        return last.to(self.mask.dtype) * self.rewards[:, None]

    def select(self, index: torch.Tensor) -> Rollout:
        """The rows ``index`` (LongTensor [B']) as a new :class:`Rollout` (mini-batching)."""
        changes: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                changes[f.name] = value[index]
        changes["extras"] = {k: v[index] for k, v in self.extras.items()}
        return replace(self, **changes)

    @staticmethod
    def concat(rollouts: Sequence[Rollout]) -> Rollout:
        """The rows of ``rollouts``, in order, as one :class:`Rollout` (the draws of one step).

        Every tensor field and every ``extras`` entry is concatenated along the rows; a field must be
        set in all of the rollouts or in none, and ``num_runs`` must agree. Token prompts ``[B_i, T_i]``
        of different widths are left-padded to the widest with id 0 and ``prompt_mask`` 0 (prompts are
        left-padded: positions count from the first attended token), which needs ``prompt_mask``.
        Group ids are kept: rollouts that reuse ids must be given distinct ones before their groups are
        told apart.

        Raises
        ------
        ValueError
            No rollout, ``num_runs`` that differ, a field set in some rollouts only, or prompts of
            different widths without ``prompt_mask``.
        """
        if not rollouts:
            raise ValueError("Rollout.concat needs at least one rollout")
        first = rollouts[0]
        if any(r.num_runs != first.num_runs for r in rollouts):
            raise ValueError(f"Rollout.concat: num_runs differ: {[r.num_runs for r in rollouts]}")
        changes: dict[str, Any] = {}
        for f in fields(first):
            values = [getattr(r, f.name) for r in rollouts]
            if f.name in ("num_runs", "extras") or all(v is None for v in values):
                continue
            if any(v is None for v in values):
                raise ValueError(f"Rollout.concat: {f.name} is set in some rollouts and not in others")
            if f.name in ("prompts", "prompt_mask") and values[0].dim() == 2:
                values = _left_pad(values, first.prompt_mask is not None)
            changes[f.name] = torch.cat(values)
        keys = set(first.extras)
        if any(set(r.extras) != keys for r in rollouts):
            raise ValueError(f"Rollout.concat: extras keys differ: {[sorted(r.extras) for r in rollouts]}")
        changes["extras"] = {k: torch.cat([r.extras[k] for r in rollouts]) for k in first.extras}
        return replace(first, **changes)


def _left_pad(values: list[torch.Tensor], masked: bool) -> list[torch.Tensor]:
    """Token prompts (or their masks) ``[B_i, T_i]`` left-padded with 0 to the widest ``T``."""
    width = max(v.shape[1] for v in values)
    if any(v.shape[1] != width for v in values) and not masked:
        raise ValueError("Rollout.concat: token prompts of different widths need Rollout.prompt_mask to be padded")
    return [torch.nn.functional.pad(v, (width - v.shape[1], 0)) for v in values]


@dataclass
class TokenStats:
    """What the current (trainable) policy says about a rollout's tokens.

    Attributes
    ----------
    log_probs : FloatTensor [B, T]
        log pi_theta of each response token, with grad.
    entropy : FloatTensor [B, T], optional
        Entropy of the full next-token distribution at each position (with grad when the
        backend can provide it). ``None`` when no term or sensor needs it.
    logits : FloatTensor [B, T, V], optional
        Full logits, only from backends whose vocabulary is small (simulators); LLM
        backends leave it ``None`` and compute what is needed chunk by chunk.
    """

    log_probs: torch.Tensor
    entropy: torch.Tensor | None = None
    logits: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.log_probs.dim() != 2:
            raise ValueError(f"TokenStats.log_probs must be [B, T], got {list(self.log_probs.shape)}")
        shape = tuple(self.log_probs.shape)
        _check_shape("entropy", self.entropy, shape, "TokenStats")
        if self.logits is not None and tuple(self.logits.shape[:2]) != shape:
            raise ValueError(f"TokenStats.logits must be [{shape[0]}, {shape[1]}, V], "
                             f"got {list(self.logits.shape)}")


@dataclass(frozen=True)
class Observation:
    """What a controller may read after scoring a step.

    Attributes
    ----------
    step : int
        Optimizer-step index (0-based) the control is being chosen for.
    values : dict[str, FloatTensor [R]]
        Sensor readings, one value per run, keyed by metric name
        (``"entropy/mean"``, ``"entropy/top_q"``, ``"entropy/pos_adv"``, ``"reward/mean"``, ...).
    """

    step: int
    values: dict[str, torch.Tensor]

    def __getitem__(self, name: str) -> torch.Tensor:
        try:
            return self.values[name]
        except KeyError:
            raise ValueError(f"sensor {name!r} is not observed; available: {sorted(self.values)}") from None

    def finite(self, diverged: torch.Tensor) -> Observation:
        """The readings with every non-finite value, and every value of a ``diverged`` run, replaced by 0.

        A run whose parameters went non-finite reads NaN before the loop's divergence guard sees its
        loss; a controller acting on that reading would write NaN into :class:`Control`, which refuses
        it for every run. Finite readings of the other runs are returned as they are.

        Parameters
        ----------
        diverged : BoolTensor [R]
            Runs already marked diverged.

        Returns
        -------
        Observation
            Same step and names, every reading ``[R]`` finite.
        """
        values = {name: torch.where(diverged | ~torch.isfinite(value), torch.zeros_like(value), value)
                  for name, value in self.values.items()}
        return Observation(step=self.step, values=values)


ENTROPY_MODES = ("none", "detached", "grad")
"""What ``Backend.score`` computes of the token entropy: nothing (``TokenStats.entropy`` is ``None``),
its value without a graph, or its value with grad. The vocabulary pass of an LLM costs as much as
its LM head, so the loop asks for no more than the objective, the controller and the logging read."""


def check_entropy_mode(entropy: str) -> str:
    """Return ``entropy`` or raise ``ValueError`` naming the allowed values."""
    if entropy not in ENTROPY_MODES:
        raise ValueError(f"score(entropy={entropy!r}): allowed values are {list(ENTROPY_MODES)}")
    return entropy



def demonstrations_per_group(share: float, group_size: int, owner: str) -> int:
    """How many of a group's ``group_size`` responses a backend replaces by demonstrations (``Rollout.off_policy``).

    ``round(share * group_size)``, halves up: LUFFY's released recipe puts 1 demonstration in each group
    of 8 (share 0.125). Raises ``ValueError`` naming ``<owner>.off_policy_share`` for a share outside
    ``[0, 1]`` (or not a number), or one above 0 that rounds to no demonstration.
    """
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0.0 <= share <= 1.0:
        raise ValueError(f"{owner}.off_policy_share must be a number in [0, 1], got {share!r}")
    count = math.floor(share * group_size + 0.5)
    if share > 0 and count == 0:
        raise ValueError(f"{owner}.off_policy_share={share!r} gives no demonstration in a group of "
                         f"group_size={group_size}: use 0 (none) or at least {0.5 / group_size:g}")
    return count

@runtime_checkable
class Backend(Protocol):
    """A policy and its environment: the part of a step that differs between a bandit and a 7B model.

    Contract
    --------
    - ``rollout()`` samples a batch from the current policy (no grad) and fills
      ``old_log_probs`` (and ``ref_log_probs`` when a reference exists).
    - ``score(rollout, entropy)`` recomputes log-probs under the current parameters, with grad,
      and the full-distribution token entropy as ``entropy`` asks (:data:`ENTROPY_MODES`): not at
      all, detached (for sensors and logging) or with grad (for an entropy term).
    - ``backward(loss)`` takes a per-run loss ``[R]`` and adds its gradient to each run's; the loop
      calls it once per micro-batch, so its normalisers are the whole mini-batch's.
    - ``step()`` clips each run's accumulated gradient, steps each run's optimizer, clears the
      gradients, and returns per-run diagnostics (``"grad/norm"``, ...).
    - ``evaluate()`` returns per-run evaluation metrics ``[R]`` (``"eval/pass@1"``, ...).
    - ``state_dict()`` / ``load_state_dict()`` hold everything needed to resume to the same
      trajectory: parameters, optimizer, RNG streams (and the reference, once reset).

    Optional capabilities, not required by this protocol (the loop checks them with
    ``isinstance`` when a setting needs them): :class:`SupportsReferenceReset`,
    :class:`SupportsOptimizerReset`, :class:`SupportsRedraw` and :class:`SupportsCurriculum`; a
    ``max_entropy`` attribute (nats, the log of the vocabulary size) lets a run refuse an entropy target
    no policy can reach. A backend factory (the ``_target_`` of a backend config) that cannot hold
    more than a few runs in one process declares it as its ``max_runs`` attribute; tools that need
    more runs then start one process per run (the LLM backend: ``max_runs = 1``).
    """

    num_runs: int
    device: torch.device
    """Where the backend's tensors live; the loop puts its own (guard, totals, RNG streams) there too."""

    def rollout(self) -> Rollout: ...

    def score(self, rollout: Rollout, entropy: str = "grad") -> TokenStats: ...

    def backward(self, loss: torch.Tensor) -> None: ...

    def step(self) -> dict[str, torch.Tensor]: ...

    def evaluate(self) -> dict[str, torch.Tensor]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class SupportsReferenceReset(Protocol):
    """Optional backend capability: ProRL's hard reset of the reference policy (arXiv 2505.24864).

    ``reset_reference()`` makes each run's current policy its reference: the next rollouts' (and
    ``state_dict``'s) ``ref_log_probs`` are those of the policy at the reset, so a KL term to the
    reference starts again from 0 and stops holding the policy at its start.
    """

    def reset_reference(self) -> None: ...


@runtime_checkable
class SupportsOptimizerReset(Protocol):
    """Optional backend capability: ``reset_optimizer()`` restarts every run's optimizer from a fresh
    state (moments and step count of Adam), as ProRL does with its reference resets."""

    def reset_optimizer(self) -> None: ...


@runtime_checkable
class SupportsRedraw(Protocol):
    """Optional backend capability: more draws for the same step (dynamic sampling, ``trainer.filter_groups``).

    ``redraw(draw)``, ``draw = 1, 2, ...``, returns a batch like :meth:`Backend.rollout`'s from the policy of
    the step's ``rollout()`` (no update in between): fresh prompts where the backend draws them, fresh
    responses. Its randomness comes from each run's own streams keyed by ``(rollout, draw)``: a run's draw
    ``d`` is the same whatever the other runs are, and no redraw moves a stream that later rollouts read, so
    a run's trajectory never depends on how many draws the other runs needed.
    """

    def redraw(self, draw: int) -> Rollout: ...


@runtime_checkable
class SupportsCurriculum(Protocol):
    """Optional backend capability: a curriculum weighs the prompts it draws (``trainer.curriculum``, SENT).

    ``prompt_pool`` is N, the prompts rollouts draw from (the training problems; the bandit's prompts);
    ``prompt_index(rollout)`` the pool index ``[B]`` of each row's prompt; ``set_prompt_weights(weights)``,
    ``weights`` FloatTensor ``[R, N]`` ``>= 0`` with a positive sum per run, sets the weights of every later
    rollout and redraw: a backend that draws its prompts draws each run's with probabilities proportional to
    its weights, on the run's own prompt stream; one that trains every prompt each step (the bandit) trains
    those of positive weight.
    """

    prompt_pool: int

    def prompt_index(self, rollout: Rollout) -> torch.Tensor: ...

    def set_prompt_weights(self, weights: torch.Tensor) -> None: ...


@runtime_checkable
class SupportsCritic(Protocol):
    """Optional backend capability: a learned value per run (VAPO's critic, arXiv 2504.05118).

    ``critic`` is the backend's critic, ``None`` when it was built without one (``backend.critic=false``). With one,
    the backend fills ``Rollout.values`` ``[B, T]`` with each run's critic. ``update_critic(rollout, returns)``
    takes one step of each run's own critic optimizer on the clipped value loss
    (:func:`entropic.critic.value_loss`) towards ``returns`` ``[B, T]`` (no grad) and returns per-run
    diagnostics ``[R]`` (``critic/value_loss``, ``critic/clipfrac``, ``critic/grad_norm``). The policy's
    parameters and streams are left alone; ``state_dict`` holds the critic and its optimizer.
    """

    critic: Any

    def update_critic(self, rollout: Rollout, returns: torch.Tensor) -> dict[str, torch.Tensor]: ...


@runtime_checkable
class Controller(Protocol):
    """Chooses the actuator values of the next step from what it observes.

    ``update`` returns ``control`` with the fields named in ``drives`` replaced; ``metrics``
    afterwards holds its per-run diagnostics ``[R]`` (error, P/I/D parts, raw and saturated
    output) for logging.
    """

    drives: frozenset[str]
    metrics: dict[str, torch.Tensor]

    def update(self, observation: Observation, control: Control) -> Control: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
