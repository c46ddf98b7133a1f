"""SENT's semantic-entropy curriculum (Cao et al., arXiv 2512.04359): prompts from low to high semantic entropy.

SENT sorts the training prompts by the semantic entropy of the policy's answers to them
(:mod:`entropic.advantages.semantic_entropy`: the entropy of the answer clusters of a group) and trains on
them from low to high, in stages. Here the estimate is each run's running record of its own rollouts,
re-estimated on a schedule, and the stages are equal buckets of the order:

- every step, the semantic entropy of each group of the step's batch is added to the record of its
  prompt (the backend's pool index, :class:`~entropic.protocol.SupportsCurriculum`);
- every ``refresh_every`` steps the estimate of each prompt seen since the last refresh becomes the
  mean of its record (a prompt not yet seen takes its run's mean estimate), and each run orders its
  prompts by estimate, ascending (ties by pool index);
- at step ``t`` the run draws from bucket ``s = min(t // stage_steps, stages - 1)`` of its order: the
  prompts of rank ``[floor(s * N / S), floor((s + 1) * N / S))``, uniformly. Until the first refresh
  (no estimate yet) it draws from the whole pool, the policy's estimating pass.

Everything is per run (a run's record, order and weights never read another run's), so a run's prompts
are the same alone or batched. The backend draws from the weights on the run's own prompt stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from entropic.advantages.semantic_entropy import semantic_entropy
from entropic.protocol import Rollout


@dataclass
class CurriculumConfig:
    """The semantic-entropy curriculum of the loop (``trainer.curriculum``, SENT, arXiv 2512.04359).

    Attributes
    ----------
    enable : bool
        Order the prompts the backend draws by estimated semantic entropy; needs a backend with the
        :class:`~entropic.protocol.SupportsCurriculum` hook (all three backends). Default False.
    refresh_every : int
        Steps between two re-estimates of the order from the record of the rollouts (``>= 1``). Default 10
        (unverified: the authors' scripts read training files sorted beforehand, an estimate made once).
    stages : int
        Equal buckets of the order, trained from low to high semantic entropy (``>= 1``; 1 = no curriculum,
        only the record). Default 2, the two stages of the authors' released scripts.
    stage_steps : int
        Steps of each stage but the last, which runs to the end (``>= 1``). Default 100 (unverified).
    """

    enable: bool = False
    refresh_every: int = 10
    stages: int = 2
    stage_steps: int = 100

    def __post_init__(self) -> None:
        for name in ("refresh_every", "stages", "stage_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"trainer.curriculum.{name} must be an integer >= 1, got {value!r}")


class SemanticEntropyCurriculum:
    """Each run's record of its prompts' semantic entropy, their order, and the weights of the step's draw.

    Parameters
    ----------
    config : CurriculumConfig
        Schedule.
    num_runs : int
        R.
    pool : int
        N, the prompts the backend draws from (``>= config.stages``: no bucket may be empty).
    device : torch.device
        Where the record lives.

    Attributes
    ----------
    estimate : FloatTensor [R, N]
        Estimated semantic entropy of each prompt (nats), valid where ``known``.
    known : BoolTensor [R, N]
        Prompts estimated at least once.
    """

    def __init__(self, config: CurriculumConfig, num_runs: int, pool: int, device: torch.device) -> None:
        if pool < config.stages:
            raise ValueError(f"trainer.curriculum.stages={config.stages} needs at least as many prompts, the backend "
                             f"draws from {pool}: lower trainer.curriculum.stages")
        self.config, self.num_runs, self.pool = config, num_runs, pool
        self.estimate = torch.zeros(num_runs, pool, dtype=torch.float64, device=device)
        self.known = torch.zeros(num_runs, pool, dtype=torch.bool, device=device)
        self._sum = torch.zeros(num_runs * pool, dtype=torch.float64, device=device)
        self._count = torch.zeros(num_runs * pool, dtype=torch.float64, device=device)

    def observe(self, rollout: Rollout, prompt: torch.Tensor) -> None:
        """Add the semantic entropy of each group of ``rollout`` to its prompt's record.

        Parameters
        ----------
        rollout : Rollout
            A sampled batch with ``answer`` [B] (no ``weights``).
        prompt : LongTensor [B]
            Pool index of each row's prompt (:meth:`~entropic.protocol.SupportsCurriculum.prompt_index`).

        Raises
        ------
        ValueError
            A weighted rollout (``backend.mode=exact`` enumerates responses: a group has no sampled answers).
        """
        if rollout.weights is not None:
            raise ValueError("trainer.curriculum needs sampled groups (their answers' semantic entropy), got a rollout "
                             "with weights (exact mode); use backend.mode=sampled")
        entropy, groups = semantic_entropy(rollout, torch.float64)  # [K]
        flat = rollout.run_ids() * self.pool + prompt  # [B]
        self._sum.index_add_(0, flat, groups.rows(entropy))  # each row adds its group's value
        self._count.index_add_(0, flat, torch.ones(flat.shape, dtype=self._count.dtype, device=flat.device))

    def weights(self, step: int) -> torch.Tensor:
        """The draw's weights over each run's prompts at ``step``: FloatTensor [R, N], 1 in the stage's bucket.

        Re-estimates the order first when ``step`` is a positive multiple of ``refresh_every``.
        """
        if step > 0 and step % self.config.refresh_every == 0:
            self._refresh()
        ranks = self.order().argsort(-1)  # [R, N]: the rank of each prompt
        S = self.config.stages
        stage = self.stage(step)
        bucket = (ranks >= stage * self.pool // S) & (ranks < (stage + 1) * self.pool // S)
        return torch.where(self.known.any(-1, keepdim=True), bucket, True).to(self.estimate.dtype)

    def stage(self, step: int) -> int:
        """The stage of ``step``: ``min(step // stage_steps, stages - 1)``."""
        return min(step // self.config.stage_steps, self.config.stages - 1)

    def order(self) -> torch.Tensor:
        """Each run's prompts from low to high estimate, ties by pool index: LongTensor [R, N].

        A prompt without an estimate ranks as its run's mean estimate.
        """
        return self._ranked_estimate().sort(dim=-1, stable=True).indices

    def _ranked_estimate(self) -> torch.Tensor:
        """``estimate`` [R, N] with each unknown prompt at its run's mean estimate (0 when none is known)."""
        known = self.known.to(self.estimate.dtype)
        mean = (self.estimate * known).sum(-1, keepdim=True) / known.sum(-1, keepdim=True).clamp(min=1.0)
        return torch.where(self.known, self.estimate, mean)

    def _refresh(self) -> None:
        """Estimates of the prompts recorded since the last refresh: their record's mean; the record restarts."""
        seen = (self._count > 0).view(self.num_runs, self.pool)
        mean = (self._sum / self._count.clamp(min=1.0)).view(self.num_runs, self.pool)
        self.estimate = torch.where(seen, mean, self.estimate)
        self.known |= seen
        self._sum.zero_()
        self._count.zero_()

    def metrics(self, step: int, weights: torch.Tensor) -> dict[str, torch.Tensor]:
        """``curriculum/semantic_entropy``: each run's mean ranked estimate over the prompts it draws from at
        ``step`` (0 before the first refresh), and ``curriculum/stage``, both ``[R]``."""
        estimate = (self._ranked_estimate() * weights).sum(-1) / weights.sum(-1)
        return {"curriculum/semantic_entropy": estimate,
                "curriculum/stage": torch.full_like(estimate, float(self.stage(step)))}

    def state_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate.clone(), "known": self.known.clone(), "sum": self._sum.clone(),
                "count": self._count.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.estimate, self.known = state["estimate"].clone(), state["known"].clone()
        self._sum, self._count = state["sum"].clone(), state["count"].clone()
