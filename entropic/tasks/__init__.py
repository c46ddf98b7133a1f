"""Verifiable tasks as text, shared by every backend: problems, exact verifiers and reward shaping."""

from entropic.tasks.answers import NO_ANSWER, answer_id
from entropic.tasks.arithmetic import TASKS, Problem, Task, Verdict
from entropic.tasks.rewards import shaped_reward
from entropic.tasks.steps import verified_characters

__all__ = ["NO_ANSWER", "TASKS", "Problem", "Task", "Verdict", "answer_id", "shaped_reward",
           "verified_characters"]
