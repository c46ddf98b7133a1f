"""Text tasks of the LLM backend: a registry (``backend.task``), arithmetic, reasoning-gym, local files."""

from entropic.llm.tasks import arithmetic, files, reasoning_gym  # noqa: F401  (register their tasks)
from entropic.llm.tasks.base import SPLITS, TASKS, SupportsSteps, TextProblem, TextTask, make_task, register_task

__all__ = ["SPLITS", "TASKS", "SupportsSteps", "TextProblem", "TextTask", "make_task", "register_task"]
