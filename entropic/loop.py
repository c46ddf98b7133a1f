"""The one training loop every backend uses.

Per rollout step::

    rollout = backend.rollout()
    adv     = compute_advantages(rollout, advantage_config)
    for epoch in range(ppo_epochs):                  # verl names
        for mini_batch, mini_adv in split(rollout, adv, ppo_mini_batch_size):
            stats   = backend.score(mini_batch, entropy=entropy_mode)   # none / detached / grad
            control = controller.update(observe(step, mini_batch, stats, mini_adv), control)
            loss, metrics = objective(PolicyBatch.from_step(mini_batch, stats, mini_adv, generators), control)
            backend.backward(loss)
            backend.step()

With ``ppo_micro_batch_size`` smaller than a mini-batch, the score above runs without a graph and
the objective is differentiated with respect to the log-probs (and entropies) alone; each
micro-batch is then scored again with a graph and back-propagates those token gradients, and one
optimizer step follows (:meth:`Trainer._backward_micro_batches`). Every normaliser (token and
sequence counts) and every token selection (Clip-Cov, KL-Cov, top-entropy) is thus taken over the
whole mini-batch, and the gradient is the whole mini-batch's in every aggregation mode, whatever the
micro-batch size. verl instead selects tokens within each micro-batch.

:meth:`Trainer.run` repeats the step and calls the step callbacks; :meth:`Trainer.fit` is ``run``
with logging (``metrics.jsonl`` + TensorBoard), checkpoints and a progress bar. Evaluation, resume, the
divergence guard and ProRL's periodic reference resets live here once, for the simulators and
the LLM backend alike, as does dynamic sampling (``trainer.filter_groups``: the step's rollout is
filtered group by group and drawn again until each run's batch is full, :mod:`entropic.dynamic_sampling`)
and SENT's curriculum (``trainer.curriculum``: each run's prompts drawn from low to high estimated semantic
entropy, :mod:`entropic.curriculum`).
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import torch

from entropic.advantages import AdvantageConfig, compute_advantages, critic_returns
from entropic.checkpoint import list_checkpoints, load_latest_checkpoint, save_checkpoint
from entropic.control import Control
from entropic.curriculum import CurriculumConfig, SemanticEntropyCurriculum
from entropic.dynamic_sampling import draw_filtered
from entropic.group_filter import FilterGroupsConfig
from entropic.metrics import logp_advantage_covariance
from entropic.objectives import Objective, PolicyBatch
from entropic.observe import observe
from entropic.protocol import (
    Backend,
    Controller,
    Observation,
    Rollout,
    SupportsCritic,
    SupportsCurriculum,
    SupportsOptimizerReset,
    SupportsRedraw,
    SupportsReferenceReset,
    TokenStats,
)
from entropic.reduce import Segments, group_runs, sum_per_run
from entropic.run_log import RunLog

log = logging.getLogger(__name__)


@dataclass
class TrainerConfig:
    """How long to train and how often to evaluate, log and checkpoint.

    Attributes
    ----------
    steps : int
        Rollout steps (>= 1).
    ppo_epochs : int
        Passes over each rollout batch (verl ``ppo_epochs``, default 1).
    ppo_mini_batch_size : int, optional
        Prompts (groups) per mini-batch and run (verl ``ppo_mini_batch_size``); ``None`` = the
        whole batch, i.e. one optimizer step per epoch.
    ppo_micro_batch_size : int, optional
        Responses (rows) per micro-batch and run, the most the backend scores with a graph at once
        (verl ``ppo_micro_batch_size_per_gpu``); ``None`` = the whole mini-batch. Memory, not
        arithmetic: the gradient is the mini-batch's whatever the size (see the module docstring).
    eval_every : int
        Evaluate every this many steps (0 = only the last step, which is always evaluated).
    checkpoint_every : int
        Checkpoint every this many steps (0 = never).
    histogram_every : int
        Write the token-entropy histogram to TensorBoard every this many steps (0 = never).
    tensorboard : bool
        Write TensorBoard event files beside ``metrics.jsonl``.
    log_entropy : bool
        Compute the exact token entropy every step for logging (``entropy/*`` metrics, the
        histogram), even when neither the objective nor the controller reads it (default True).
        False skips the vocabulary pass then, which on an LLM costs as much as its LM head.
    reference_reset_every : int
        Make the current policy the KL reference every this many rollout steps, before the rollout
        of steps N, 2N, ... (ProRL's hard reset, arXiv 2505.24864; 0 = never, the reference stays the
        initial policy). Needs a backend with ``reset_reference()``
        (:class:`~entropic.protocol.SupportsReferenceReset`).
    reference_reset_optimizer : bool
        Also restart the optimizer state (Adam's moments and step count) at each reference reset,
        as ProRL does; needs ``reference_reset_every > 0`` and a backend with ``reset_optimizer()``
        (:class:`~entropic.protocol.SupportsOptimizerReset`). Default False: only the reference moves.
    filter_groups : FilterGroupsConfig
        Dynamic sampling (DAPO) and accuracy-range filtering (MiniRL): which groups a step trains on and
        how many draws may fill its batch (verl ``algorithm.filter_groups``); off by default.
    curriculum : CurriculumConfig
        SENT's semantic-entropy curriculum (:mod:`entropic.curriculum`): the prompts each run draws, from low
        to high estimated semantic entropy; off by default.
    critic_pretrain_steps : int
        VAPO's value pretraining (arXiv 2504.05118): before the first step, this many rollouts of the initial
        policy each take one critic step (:class:`~entropic.protocol.SupportsCritic`) towards the returns of
        ``advantage.lam_critic``, and no policy step. Needs a backend with a critic; default 0 (none).
    """

    steps: int = 500
    ppo_epochs: int = 1
    ppo_mini_batch_size: int | None = None
    ppo_micro_batch_size: int | None = None
    eval_every: int = 50
    checkpoint_every: int = 100
    histogram_every: int = 50
    tensorboard: bool = True
    log_entropy: bool = True
    reference_reset_every: int = 0
    reference_reset_optimizer: bool = False
    filter_groups: FilterGroupsConfig = field(default_factory=FilterGroupsConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    critic_pretrain_steps: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "ppo_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"trainer.{name} must be >= 1, got {getattr(self, name)}")
        if self.reference_reset_optimizer and self.reference_reset_every == 0:
            raise ValueError("trainer.reference_reset_optimizer=true needs trainer.reference_reset_every > 0 "
                             "(the optimizer is reset with the reference)")
        for name in ("eval_every", "checkpoint_every", "histogram_every", "reference_reset_every",
                     "critic_pretrain_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"trainer.{name} must be >= 0 (0 = never), got {getattr(self, name)}")
        for name in ("ppo_mini_batch_size", "ppo_micro_batch_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"trainer.{name} must be >= 1 or null, got {getattr(self, name)}")


BEST_METRICS = ("reward/mean", "eval/pass@1")
"""Metrics whose best value over the run goes into ``summary.json``."""


class TrainerCallback(Protocol):
    """Called by :meth:`Trainer.run` after every step (as transformers' ``TrainerCallback``)."""

    def on_step(self, step: int, metrics: dict[str, torch.Tensor]) -> bool | None:
        """``step``: 0-based index of the step just done; ``metrics``: its per-run values ``[R]``.

        Return True to stop the run after this step.
        """


def _chunks(chunk: torch.Tensor) -> Iterator[torch.Tensor]:
    """Indices ``[n_i]`` of the entries of each value ``0, 1, ...`` of ``chunk`` ``[B]``, in order."""
    for index in range(int(chunk.max()) + 1):
        yield torch.nonzero(chunk == index, as_tuple=True)[0]


class Diverged(RuntimeError):
    """Every run produced a non-finite loss or entropy."""


class Trainer:
    """Runs the five-move step on a backend, R independent runs at once.

    Parameters
    ----------
    backend : Backend
        Where rollouts come from and updates go.
    objective : Objective
        The policy loss and its terms.
    advantage : AdvantageConfig
        Advantage estimator.
    control : Control
        Knob values before any controller acts.
    controller : Controller, optional
        Closed-loop or scheduled knob setter; ``None`` keeps ``control`` fixed.
    config : TrainerConfig
        Loop lengths and frequencies.
    output_dir : str or Path
        Where ``metrics.jsonl``, ``tensorboard/``, ``checkpoints/`` and ``summary.json`` go.
    run_seeds : list[int]
        One seed per run, for the objective's own randomness (Clip-Cov's token choice).
    observe : callable, optional
        ``(step, rollout, stats, advantages) -> Observation``: the sensor readings of a step
        (default :func:`entropic.observe.observe`, every sensor). A tuning study passes a cheaper
        one computing only the sensors its controller reads.
    """

    def __init__(self, backend: Backend, objective: Objective, advantage: AdvantageConfig, control: Control,
                 controller: Controller | None, config: TrainerConfig, output_dir: str | Path,
                 run_seeds: list[int], *, observe: Callable[..., Observation] = observe) -> None:
        if len(run_seeds) != backend.num_runs:
            raise ValueError(f"run_seeds has {len(run_seeds)} seeds for {backend.num_runs} runs")
        self.backend, self.objective, self.advantage = backend, objective, advantage
        self.control, self.controller, self.config = control, controller, config
        self.observe = observe
        self.output_dir = Path(output_dir)
        self.num_runs = backend.num_runs
        self.device = torch.device(backend.device)
        self.generators = [torch.Generator(self.device).manual_seed(seed * 1_000_003 + 17) for seed in run_seeds]
        self.step = 0
        self.optimizer_step = 0
        self.diverged_at = torch.full((self.num_runs,), -1, dtype=torch.long, device=self.device)
        self.best: dict[str, torch.Tensor] = {}  # metric -> each run's best finite value so far [R]
        self._pending_histogram: torch.Tensor | None = None
        self._last_entropy: torch.Tensor | None = None
        self._check_knobs()
        self._check_reference_reset()
        self._check_filter_groups()
        self._check_critic()
        self.curriculum = self._make_curriculum()
        self.run_log = RunLog(self.output_dir, self.num_runs, tensorboard=config.tensorboard)

    def set_controller(self, controller: Controller | None) -> None:
        """Replace the controller (system identification swaps in an excitation sequence), checked as at start."""
        self.controller = controller
        self._check_knobs()

    @property
    def entropy_mode(self) -> str:
        """What ``Backend.score`` is asked of the entropy: ``grad`` when the objective reads it, ``detached``
        when only the controller's sensor or the logging (``log_entropy``) does, else ``none``."""
        if self.objective.needs_entropy:
            return "grad"
        if self.config.log_entropy or self.controller is None:
            return "detached" if self.config.log_entropy else "none"
        sensors = getattr(self.controller, "required_observations", None)  # undeclared: assume it reads entropy
        if sensors is None or any(name.startswith("entropy/") and name != "entropy/sampled_nll" for name in sensors):
            return "detached"
        return "none"

    def _check_knobs(self) -> None:
        """Refuse a controller on a knob nobody reads; warn on ratio knobs in the on-policy regime."""
        drives = self.controller.drives if self.controller is not None else frozenset()
        unread = drives - self.objective.reads
        if unread:
            raise ValueError(f"the controller drives {sorted(unread)} but no part of the objective reads it "
                             f"(objective reads {sorted(self.objective.reads)}); add the term or modifier "
                             f"that uses it, e.g. objective.terms=[entropy] for entropy_coeff")
        if self.config.ppo_epochs > 1 or self.config.ppo_mini_batch_size is not None:
            return
        default = Control()
        inert = {name for name in self.objective.ratio_knobs
                 if name in drives or _differs(getattr(self.control, name), getattr(default, name))}
        if inert:
            warnings.warn(f"{sorted(inert)} only act when the importance ratio leaves 1, but the loop makes one "
                          f"update per rollout batch (trainer.ppo_epochs=1, ppo_mini_batch_size=null): they "
                          f"have no effect. Set ppo_epochs > 1 or a smaller ppo_mini_batch_size.", stacklevel=2)

    def _check_reference_reset(self) -> None:
        """Refuse reference (and optimizer) resets on a backend without the capability."""
        needs = []
        if self.config.reference_reset_every:
            needs.append(("reference_reset_every", SupportsReferenceReset, "reset_reference"))
        if self.config.reference_reset_optimizer:
            needs.append(("reference_reset_optimizer", SupportsOptimizerReset, "reset_optimizer"))
        for name, capability, method in needs:
            if not isinstance(self.backend, capability):
                raise ValueError(f"trainer.{name}={getattr(self.config, name)} needs a backend with {method}(); "
                                 f"{type(self.backend).__name__} has none (set trainer.{name} to its default)")

    def _check_filter_groups(self) -> None:
        """Refuse dynamic sampling with extra draws on a backend that cannot draw again within a step."""
        filtering = self.config.filter_groups
        if filtering.enable and filtering.max_num_gen_batches > 1 and not isinstance(self.backend, SupportsRedraw):
            raise ValueError(f"trainer.filter_groups.max_num_gen_batches={filtering.max_num_gen_batches} needs a "
                             f"backend with redraw(); {type(self.backend).__name__} has none (set it to 1: filter "
                             f"without drawing again)")

    def _check_critic(self) -> None:
        """Refuse GAE and value pretraining on a backend that has no critic to train."""
        pretrain = self.config.critic_pretrain_steps
        needs = {"advantage.adv_estimator=gae": self.advantage.adv_estimator == "gae",
                 f"trainer.critic_pretrain_steps={pretrain}": pretrain > 0}
        for setting, needed in needs.items():
            if needed and (not isinstance(self.backend, SupportsCritic) or self.backend.critic is None):
                raise ValueError(f"{setting} needs a backend with a critic (backend.critic=true and "
                                 f"update_critic()); this {type(self.backend).__name__} has none")

    def _train_critic(self, rollout: Rollout) -> dict[str, torch.Tensor]:
        """One critic step towards the rollout's :func:`~entropic.advantages.gae.critic_returns` when the backend
        filled ``Rollout.values``; its ``critic/*`` metrics ``[R]`` (none without a critic)."""
        if rollout.values is None:
            return {}
        return self.backend.update_critic(rollout, critic_returns(rollout, self.advantage))

    def _pretrain_critic_if_due(self) -> dict[str, torch.Tensor]:
        """VAPO's value pretraining before step 0: ``critic_pretrain_steps`` rollouts of the initial policy, one
        critic step each; the last one's metrics as ``critic/pretrain_*``."""
        metrics: dict[str, torch.Tensor] = {}
        if self.step == 0:
            for _ in range(self.config.critic_pretrain_steps):
                metrics = self._train_critic(self.backend.rollout())
        return {name.replace("critic/", "critic/pretrain_"): value for name, value in metrics.items()}

    def _make_curriculum(self) -> SemanticEntropyCurriculum | None:
        """The semantic-entropy curriculum of ``trainer.curriculum``, refused on a backend without the hook."""
        if not self.config.curriculum.enable:
            return None
        if not isinstance(self.backend, SupportsCurriculum):
            raise ValueError(f"trainer.curriculum.enable=true needs a backend with prompt_pool, prompt_index() and "
                             f"set_prompt_weights(); {type(self.backend).__name__} has none")
        return SemanticEntropyCurriculum(self.config.curriculum, self.num_runs, self.backend.prompt_pool,
                                         self.device)

    def _reset_reference_if_due(self) -> None:
        """ProRL's hard reset before the rollout of steps N, 2N, ... (``reference_reset_every`` = N)."""
        every = self.config.reference_reset_every
        if every and self.step > 0 and self.step % every == 0:
            self.backend.reset_reference()
            if self.config.reference_reset_optimizer:
                self.backend.reset_optimizer()

    # ---------------------------------------------------------------- the step
    def _mini_batches(self, rollout: Rollout) -> Iterator[torch.Tensor]:
        """Row indices of each mini-batch: ``ppo_mini_batch_size`` groups of every run, in order."""
        size = self.config.ppo_mini_batch_size
        if size is None:
            yield torch.arange(rollout.batch_size, device=rollout.mask.device)
            return
        groups, group_run = group_runs(rollout.group, rollout.run_ids())  # [K] groups in increasing id order
        yield from _chunks(groups.rows(Segments.of(group_run, rollout.num_runs).rank) // size)  # a group's rank

    def _micro_batches(self, mini_batch: Rollout) -> list[torch.Tensor] | None:
        """Row indices of each micro-batch (``ppo_micro_batch_size`` rows of every run, in order), or
        ``None`` when the mini-batch fits in one."""
        size = self.config.ppo_micro_batch_size
        if size is None:
            return None
        rank = Segments.of(mini_batch.run_ids(), mini_batch.num_runs).rank  # [B]: a row's rank in its run
        if int(rank.max()) < size:
            return None
        return list(_chunks(rank // size))

    def train_step(self) -> dict[str, torch.Tensor]:
        """One rollout step with all its updates; returns the step's per-run metrics ``[R]``.

        Loss and controller metrics are averaged over the step's updates; sensor readings, the
        log-prob/advantage covariance and the entropy histogram come from the first (on-policy)
        update. ``entropy/delta`` is the change of ``entropy/mean`` over the previous step's updates,
        the quantity the covariance law predicts (``entropy/cov_logp_adv`` > 0 predicts a fall). With
        ``filter_groups.enable`` the batch is the kept groups (:func:`~entropic.dynamic_sampling.draw_filtered`)
        and ``sampling/draws``, ``sampling/kept_fraction``, ``sampling/shortfall`` describe its draws. A backend
        with a critic takes one critic step on the rollout before the policy's updates (``critic/*``), after
        ``trainer.critic_pretrain_steps`` critic-only rollouts before step 0 (``critic/pretrain_*``).
        """
        self._reset_reference_if_due()
        critic = self._pretrain_critic_if_due()
        curriculum = self._weigh_prompts()
        rollout, sampling = self._draw()
        if self.curriculum is not None:
            self.curriculum.observe(rollout, self.backend.prompt_index(rollout))
        advantages = compute_advantages(rollout, self.advantage)
        critic.update(self._train_critic(rollout))
        totals: dict[str, torch.Tensor] = defaultdict(
            lambda: torch.zeros(self.num_runs, dtype=torch.float64, device=self.device))
        on_policy: dict[str, torch.Tensor] = {}
        updates = 0
        for _ in range(self.config.ppo_epochs):
            for index in self._mini_batches(rollout):
                mini_batch, mini_adv = rollout.select(index), advantages[index]
                micro_batches = self._micro_batches(mini_batch)
                stats = self._score(mini_batch, leaves=micro_batches is not None)
                observation = self.observe(self.optimizer_step, mini_batch, stats, mini_adv)
                metrics: dict[str, torch.Tensor] = {}
                if self.controller is not None:  # the guard, not Control's validation, reports a diverged run
                    self.control = self.controller.update(observation.finite(self.diverged_at >= 0), self.control)
                    metrics.update(self.controller.metrics)
                batch = PolicyBatch.from_step(mini_batch, stats, mini_adv, self.generators)
                loss, objective_metrics = self.objective(batch, self.control)
                metrics.update(objective_metrics)
                loss = self._guard(loss, objective_metrics.get("actor/entropy"))
                if micro_batches is None:
                    self.backend.backward(loss)
                else:
                    self._backward_micro_batches(mini_batch, stats, loss, micro_batches)
                metrics.update(self.backend.step())
                if not on_policy:
                    on_policy = dict(observation.values)
                    on_policy["entropy/cov_logp_adv"] = logp_advantage_covariance(
                        stats.log_probs.detach(), mini_adv, batch.mask, batch.run, batch.num_runs, batch.weights)
                    self._pending_histogram = None if stats.entropy is None else \
                        stats.entropy.detach()[mini_batch.mask > 0]
                for name, value in metrics.items():
                    totals[name] += value.detach().double()
                updates += 1
                self.optimizer_step += 1
        step_metrics = {name: (total / updates).float() for name, total in totals.items()}
        step_metrics.update(on_policy)
        step_metrics.update(sampling)
        step_metrics.update(curriculum)
        step_metrics.update(critic)
        if "entropy/mean" in on_policy:
            if self._last_entropy is not None:  # realised change over the previous step's updates
                step_metrics["entropy/delta"] = on_policy["entropy/mean"] - self._last_entropy
            self._last_entropy = on_policy["entropy/mean"].clone()
        for name, value in self.control.to_dict().items():
            step_metrics[f"control/{name}"] = value.detach().float() if isinstance(value, torch.Tensor) \
                else torch.full((self.num_runs,), float(value), device=self.device)
        return step_metrics

    def _weigh_prompts(self) -> dict[str, torch.Tensor]:
        """With ``trainer.curriculum``, hand the backend the step's prompt weights; their ``curriculum/*`` metrics."""
        if self.curriculum is None:
            return {}
        weights = self.curriculum.weights(self.step)
        self.backend.set_prompt_weights(weights)
        return self.curriculum.metrics(self.step, weights)

    def _draw(self) -> tuple[Rollout, dict[str, torch.Tensor]]:
        """The step's rollout; with ``filter_groups.enable``, its batch of kept groups and ``sampling/*`` metrics."""
        if not self.config.filter_groups.enable:
            return self.backend.rollout(), {}
        return draw_filtered(self.backend, self.config.filter_groups)

    def _score(self, mini_batch: Rollout, leaves: bool) -> TokenStats:
        """The backend's score of ``mini_batch``; with ``leaves``, computed without a graph and returned as
        leaf tensors that require grad (the token gradients the micro-batches back-propagate)."""
        if not leaves:
            return self.backend.score(mini_batch, entropy=self.entropy_mode)
        with torch.no_grad():
            stats = self.backend.score(mini_batch, entropy=self.entropy_mode)
        entropy = stats.entropy
        if entropy is not None and self.entropy_mode == "grad":
            entropy = entropy.detach().requires_grad_()
        return replace(stats, log_probs=stats.log_probs.detach().requires_grad_(), entropy=entropy)

    def _backward_micro_batches(self, mini_batch: Rollout, stats: TokenStats, loss: torch.Tensor,
                                micro_batches: list[torch.Tensor]) -> None:
        """Back-propagate ``loss`` ``[R]`` of the mini-batch through the backend, one micro-batch at a time.

        ``stats`` holds the leaves the loss was computed from; their gradients ``g`` ``[B, T]`` are 0 on
        padding. Each micro-batch is scored again with a graph, at the same parameters, and back-propagates
        ``sum_t g * log_probs`` (and ``g_H * entropy``) of its rows, per run: the chain rule's second half.
        """
        if not loss.requires_grad:
            return
        leaves = [stats.log_probs] + ([stats.entropy] if self.entropy_mode == "grad" else [])
        grads = torch.autograd.grad(loss.sum(), leaves, allow_unused=True)
        entropy = "grad" if len(leaves) == 2 else "none"
        for index in micro_batches:
            micro = mini_batch.select(index)
            micro_stats = self.backend.score(micro, entropy=entropy)
            valid = micro.mask > 0
            surrogate = torch.zeros_like(micro.mask)
            for value, grad in zip((micro_stats.log_probs, micro_stats.entropy), grads, strict=False):
                if grad is not None:
                    surrogate = surrogate + torch.where(valid, value, 0.0) * grad[index]
            self.backend.backward(sum_per_run(surrogate.sum(-1), micro.run_ids(), micro.num_runs))

    def _guard(self, loss: torch.Tensor, entropy: torch.Tensor | None) -> torch.Tensor:
        """Mark runs whose loss or entropy is non-finite; stop when every run has diverged."""
        finite = torch.isfinite(loss.detach())
        if entropy is not None:
            finite &= torch.isfinite(entropy)
        newly = ~finite & (self.diverged_at < 0)
        if newly.any():
            self.diverged_at[newly] = self.step
            quantity = "entropy" if entropy is not None and not torch.isfinite(entropy[newly]).all() else "loss"
            log.warning("runs %s: non-finite %s at step %d; they stop updating", newly.nonzero().flatten().tolist(),
                        quantity, self.step)
            if bool((self.diverged_at >= 0).all()):
                saved = list_checkpoints(self.output_dir / "checkpoints")
                where = f"the last good checkpoint {saved[-1]} is intact" if saved else "no checkpoint was written"
                raise Diverged(f"non-finite {quantity} at step {self.step} in every run; {where}")
        return torch.where(self.diverged_at < 0, loss, torch.zeros_like(loss))

    # ------------------------------------------------------------- the run
    def run(self, callbacks: Sequence[TrainerCallback] = (), steps: int | None = None
            ) -> dict[str, torch.Tensor] | None:
        """Train from ``self.step`` to ``config.steps`` (or ``steps`` more), calling ``callbacks`` after every step.

        The last step (``config.steps - 1``), and every step whose index is a multiple of
        ``config.eval_every``, is evaluated first (``eval/*`` metrics). Each callback's
        ``on_step(step, metrics)`` gets the 0-based index of the step just done (``self.step`` is
        already one past it); the run stops after a step for which any callback returned True.

        Returns
        -------
        dict[str, FloatTensor [R]] or None
            The metrics of the last step done (``None`` if none was left to do).
        """
        metrics = None
        end = self.config.steps if steps is None else self.step + steps
        while self.step < end:
            metrics = self.train_step()
            step = self.step
            if step == self.config.steps - 1 or (self.config.eval_every and step % self.config.eval_every == 0):
                metrics.update(self.backend.evaluate())
            self.step += 1
            stops = [bool(callback.on_step(step, metrics)) for callback in callbacks]
            if any(stops):
                break
        return metrics

    def fit(self, progress: bool = True) -> dict[str, Any]:
        """:meth:`run` with logging, checkpoints and a progress bar; returns the summary (also in summary.json)."""
        start, started_at = self.step, time.perf_counter()
        logging_callback = _RunLogging(self, progress)
        try:
            metrics = self.run([logging_callback])
            if self.config.checkpoint_every and self.step % self.config.checkpoint_every:
                self.save()  # the end of the run too, so that resuming a finished run finds it finished
        finally:
            logging_callback.close()
        elapsed = time.perf_counter() - started_at
        summary = self.summary(metrics or {}, elapsed, self.step - start)
        (self.output_dir / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False))
        return summary

    def _track_best(self, metrics: dict[str, torch.Tensor]) -> None:
        """Each run's best finite value so far of the headline metrics (``-inf`` until it has one)."""
        for name in BEST_METRICS:
            if name in metrics:
                value = metrics[name].detach().double().cpu()
                value = torch.where(torch.isfinite(value), value, -math.inf)
                self.best[name] = value if name not in self.best else torch.maximum(self.best[name], value)

    def summary(self, metrics: dict[str, torch.Tensor], seconds: float, steps: int) -> dict[str, Any]:
        """Final and best metrics, wall time and throughput, all strict-JSON (``None`` for a non-finite value).

        ``final`` and ``best`` are means over the runs that have not diverged, of their finite values;
        ``final_per_run`` and ``best_per_run`` list every run, and ``diverged_at_step`` says which runs
        went non-finite and when (-1: never).
        """
        healthy = (self.diverged_at < 0).cpu()
        return {
            "steps": self.step, "num_runs": self.num_runs,
            "final": {name: _healthy_mean(value, healthy) for name, value in metrics.items()},
            "best": {name: _healthy_mean(value, healthy) for name, value in self.best.items()},
            "final_per_run": {name: _per_run(value) for name, value in metrics.items()},
            "best_per_run": {name: _per_run(value) for name, value in self.best.items()},
            "diverged_at_step": self.diverged_at.tolist(), "wall_time_s": seconds,
            "steps_per_s": steps / seconds if seconds > 0 else None,
            "run_steps_per_s": steps * self.num_runs / seconds if seconds > 0 else None,
        }

    # ------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step, "optimizer_step": self.optimizer_step, "control": self.control.to_dict(),
            "controller": self.controller.state_dict() if self.controller is not None else None,
            "backend": self.backend.state_dict(), "generators": [g.get_state() for g in self.generators],
            "diverged_at": self.diverged_at.clone(), "best": dict(self.best), "last_entropy": self._last_entropy,
            "curriculum": self.curriculum.state_dict() if self.curriculum is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step, self.optimizer_step = state["step"], state["optimizer_step"]
        self.control = Control(**state["control"])
        if self.controller is not None:
            self.controller.load_state_dict(state["controller"])
        self.backend.load_state_dict(state["backend"])
        for generator, generator_state in zip(self.generators, state["generators"], strict=True):
            generator.set_state(generator_state)
        self.diverged_at = state["diverged_at"].clone()
        self.best = {name: torch.as_tensor(value, dtype=torch.float64).expand(self.num_runs).clone()
                     for name, value in state["best"].items()}
        self._last_entropy = state["last_entropy"]
        if self.curriculum is not None:
            self.curriculum.load_state_dict(state["curriculum"])

    def save(self) -> Path:
        """Checkpoint the whole run (atomic write) under ``output_dir/checkpoints``."""
        self.run_log.flush()
        return save_checkpoint(self.output_dir / "checkpoints", self.step, self.state_dict())

    def resume(self) -> bool:
        """Load the newest checkpoint and cut ``metrics.jsonl`` back to it.

        Without a checkpoint the run starts again from step 0, and the steps logged before the kill
        are dropped (said in a warning): nothing could reproduce them.
        """
        state = load_latest_checkpoint(self.output_dir / "checkpoints")
        if state is None:
            if self.run_log.path.exists() and self.run_log.path.stat().st_size:
                log.warning("no checkpoint in %s: starting again from step 0; the steps logged before are dropped",
                            self.output_dir / "checkpoints")
            self.run_log.truncate_after(-1)
            return False
        self.load_state_dict(state)
        self.run_log.truncate_after(self.step - 1)
        log.info("resumed from step %d", self.step)
        return True


class _RunLogging:
    """:meth:`Trainer.fit`'s callback: ``metrics.jsonl`` and TensorBoard, best values, checkpoints, progress bar."""

    def __init__(self, trainer: Trainer, progress: bool) -> None:
        from tqdm import tqdm

        self.trainer = trainer
        self.bar = tqdm(total=trainer.config.steps, initial=trainer.step, disable=not progress, dynamic_ncols=True)

    def on_step(self, step: int, metrics: dict[str, torch.Tensor]) -> None:
        trainer, config = self.trainer, self.trainer.config
        histogram = None
        if config.histogram_every and step % config.histogram_every == 0 and trainer._pending_histogram is not None:
            histogram = {"entropy/token": trainer._pending_histogram}
        trainer.run_log.log(step, metrics, histogram)
        trainer._track_best(metrics)
        self.bar.update(1)
        self.bar.set_postfix(reward=f"{float(metrics['reward/mean'].mean()):.3f}",
                             entropy=f"{float(metrics.get('entropy/mean', torch.zeros(1)).mean()):.3f}")
        if config.checkpoint_every and trainer.step % config.checkpoint_every == 0:
            trainer.save()

    def close(self) -> None:
        self.bar.close()
        self.trainer.run_log.flush()


def _finite_or_none(value: float) -> float | None:
    """JSON has no infinity or NaN: such values are written as null."""
    return value if math.isfinite(value) else None


def _per_run(values: torch.Tensor) -> list[float | None]:
    """Every run's value ``[R]`` for JSON (null where non-finite)."""
    return [_finite_or_none(v) for v in values.detach().double().cpu().tolist()]


def _healthy_mean(values: torch.Tensor, healthy: torch.Tensor) -> float | None:
    """Mean of the finite values ``[R]`` of the runs that have not diverged; None when there is none."""
    kept = values.detach().double().cpu()[healthy]
    kept = kept[torch.isfinite(kept)]
    return float(kept.mean()) if kept.numel() else None


def _differs(value: float | torch.Tensor, default: float | torch.Tensor) -> bool:
    return bool(torch.any(torch.as_tensor(value) != torch.as_tensor(default)))
