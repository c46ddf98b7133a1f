"""Reasoning-gym datasets as text tasks: problems generated locally, scored by each dataset's own scorer."""

from __future__ import annotations

import dataclasses
import difflib
import random
from collections.abc import Mapping
from typing import Any

from entropic.llm.tasks.base import Split, TextProblem, register_task
from entropic.tasks import Verdict

RESERVED = ("seed", "size")


def dataset_seed(split: Split, seed: int) -> int:
    """The reasoning-gym seed of ``split`` for the run seed ``seed``.

    Reasoning-gym builds item ``i`` of seed ``s`` from ``Random(s + i)``, so the seeds ``s`` and ``s + 1``
    share all items but one; hashing the split and the seed keeps draws of nearby seeds, and of the two
    splits, apart. Below ``2**31``, so that ``seed + index`` stays a valid 32-bit seed.
    """
    return random.Random(f"{split}:{seed}").randrange(2**31)


@register_task("reasoning_gym")
class ReasoningGymTask:
    """The reasoning-gym dataset ``dataset`` with the config fields ``config``.

    A response is correct iff the dataset's own ``score_answer`` gives it a score of at least 1.0 (partial
    credit counts as wrong); it is scored after stripping surrounding whitespace, and well formed iff it
    is not ``None`` and not blank. Its answer (the meaning semantic entropy clusters by) is the stripped
    response.

    Parameters
    ----------
    dataset : str
        A name of reasoning-gym's registry (``reasoning_gym.factory.DATASETS``), e.g. ``"chain_sum"``.
    config : Mapping[str, Any] | None
        Fields of that dataset's config dataclass, except ``seed`` and ``size``, which :meth:`problems` sets.

    Raises
    ------
    ValueError
        If ``dataset`` is not registered, has no reference answers, or ``config`` holds an unknown field or
        a value the dataset rejects.
    """

    name = "reasoning_gym"

    def __init__(self, dataset: str, config: Mapping[str, Any] | None = None) -> None:
        # reasoning_gym takes about a second to import: imported when a task is built, not when tasks register.
        import reasoning_gym
        from reasoning_gym.factory import DATASETS

        if dataset not in DATASETS:
            names = sorted(DATASETS)
            examples = difflib.get_close_matches(dataset, names, n=5, cutoff=0.5) or names[:8]
            raise ValueError(f"backend.task_args.dataset={dataset!r} is not a reasoning-gym dataset; allowed: one of "
                             f"the {len(names)} names of reasoning_gym.factory.DATASETS, e.g. {examples}")
        self.config = dict(config or {})
        allowed = [field.name for field in dataclasses.fields(DATASETS[dataset][1]) if field.name not in RESERVED]
        unknown = sorted(set(self.config) - set(allowed))
        if unknown:
            raise ValueError(f"backend.task_args.config: unknown field(s) {unknown} of reasoning-gym dataset "
                             f"{dataset!r}; allowed: {allowed} ({' and '.join(RESERVED)} are set per draw)")
        self.dataset = dataset
        self._create = reasoning_gym.create_dataset
        try:
            self._scorer = self._create(dataset, size=1, seed=0, **self.config)
            probe = self._scorer[0]
        except (AssertionError, TypeError, ValueError) as error:
            raise ValueError(f"backend.task_args.config: {self.config} is not valid for reasoning-gym dataset "
                             f"{dataset!r}: {error}") from error
        if not isinstance(probe["answer"], str):
            raise ValueError(f"backend.task_args.dataset={dataset!r} has no reference answer (got "
                             f"{probe['answer']!r}), which a warm start needs")

    def problems(self, split: Split, size: int, seed: int) -> list[TextProblem]:
        """``size`` entries generated from :func:`dataset_seed` (``data``: the entry, with its metadata)."""
        entries = self._create(self.dataset, size=size, seed=dataset_seed(split, seed), **self.config)
        return [TextProblem(entry["question"], entry["answer"], entry) for entry in entries]

    def verify(self, problem: TextProblem, response: str | None) -> Verdict:
        if response is None or not response.strip():
            return Verdict(correct=False, well_formed=False)
        score = self._scorer.score_answer(answer=response.strip(), entry=problem.data)
        return Verdict(correct=score >= 1.0, well_formed=True, answer=response.strip())
