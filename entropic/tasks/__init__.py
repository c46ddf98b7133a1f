"""Verifiable tasks as text, shared by every backend: problems, exact verifiers and reward shaping."""

from entropic.tasks.arithmetic import TASKS, Problem, Task, Verdict
from entropic.tasks.rewards import shaped_reward

__all__ = ["TASKS", "Problem", "Task", "Verdict", "shaped_reward"]
