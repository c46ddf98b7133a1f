"""The toy LM's arithmetic tasks (:mod:`entropic.tasks.arithmetic`) as text for a real tokenizer."""

from __future__ import annotations

import random

from entropic.llm.tasks.base import Split, TextProblem, register_task
from entropic.tasks import TASKS as ARITHMETIC
from entropic.tasks import Task, Verdict, verified_characters


class ArithmeticTask:
    """Addition, sorting or countdown (``name``) with ``num_digits`` digits and ``num_operands`` operands.

    Train and eval problems come from different seeds (``eval`` uses ``seed + 1_000_003``); a prompt
    may occur in both, as in the toy LM, where the problem space is small.
    """

    def __init__(self, name: str, num_digits: int = 2, num_operands: int = 2) -> None:
        if num_digits < 1 or num_operands < 2:
            raise ValueError(f"backend.task_args: num_digits must be >= 1 and num_operands >= 2, got "
                             f"{num_digits} and {num_operands}")
        self.name = name
        self.task = Task(name, num_digits, num_operands)

    @property
    def alphabet(self) -> str:
        """Characters a response is made of."""
        return self.task.alphabet

    def problems(self, split: Split, size: int, seed: int) -> list[TextProblem]:
        rng = random.Random(seed + (1_000_003 if split == "eval" else 0))
        return [TextProblem(p.prompt, p.answer, p) for p in (self.task.sample(rng) for _ in range(size))]

    def verify(self, problem: TextProblem, response: str | None) -> Verdict:
        return self.task.verify(problem.data, response)

    def verified_characters(self, problem: TextProblem, response: str | None) -> list[bool]:
        """The characters of ``response`` in verified steps (:func:`entropic.tasks.verified_characters`)."""
        return verified_characters(self.task, problem.data, response)

    def noisy_answer(self, problem: TextProblem, rng: random.Random, noise: float) -> str:
        """The answer with each character replaced by a random one of :attr:`alphabet` with probability ``noise``."""
        return self.task.noisy_answer(problem.data, rng, noise)


for _name in ARITHMETIC:
    register_task(_name)(lambda _task=_name, **args: ArithmeticTask(_task, **args))
