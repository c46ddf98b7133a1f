"""Text tasks for the LLM backend: problems as prompt text, verdicts on decoded responses, a registry.

A task draws :class:`TextProblem` s for a split and says whether a decoded response is correct
(:class:`~entropic.tasks.Verdict`). The backend owns everything about tokens: chat template,
padding, the end-of-sequence token; a response cut at the length limit reaches ``verify`` as
``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from entropic.registry import Registry
from entropic.tasks import Verdict

Split = Literal["train", "eval"]
SPLITS = ("train", "eval")


@dataclass(frozen=True)
class TextProblem:
    """One problem.

    Attributes
    ----------
    prompt : str
        The question, as the user would write it (the backend applies the chat template).
    answer : str
        A correct answer: the demonstration of a warm start and the reference of the verifier.
    data : Any
        Whatever else the task's verifier needs (a reasoning-gym entry, the problem's operands).
    """

    prompt: str
    answer: str
    data: Any = None


class TextTask(Protocol):
    """A family of problems with a verifier."""

    name: str

    def problems(self, split: Split, size: int, seed: int) -> list[TextProblem]:
        """``size`` problems of ``split``, the same for the same arguments; ``eval`` and ``train`` are disjoint
        draws where the task can tell them apart."""

    def verify(self, problem: TextProblem, response: str | None) -> Verdict:
        """Verdict on ``response``, the decoded text before the end-of-sequence token (``None``: none)."""


@runtime_checkable
class SupportsSteps(Protocol):
    """Optional task capability: an exact verifier of a response's steps (``Rollout.verified_steps``, BCPG-NSA)."""

    def verified_characters(self, problem: TextProblem, response: str | None) -> list[bool]:
        """For each character of ``response``, whether it belongs to a verified step (:mod:`entropic.tasks.steps`)."""


TASKS: Registry[Callable[..., TextTask]] = Registry("task", "backend.task")


def register_task(name: str) -> Callable[[Callable[..., TextTask]], Callable[..., TextTask]]:
    """Register a task factory ``factory(**backend.task_args) -> TextTask`` under ``name``."""
    return TASKS.register(name)


def make_task(name: str, args: dict[str, Any] | None = None) -> TextTask:
    """The task ``name`` built from ``args`` (``backend.task_args``); errors name the field."""
    factory = TASKS.get(name)
    try:
        return factory(**(args or {}))
    except TypeError as error:  # an argument the factory does not take
        raise ValueError(f"backend.task_args: {error} (task {name!r})") from None
