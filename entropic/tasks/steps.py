"""Step verification: which characters of a response belong to steps an exact verifier accepts.

A response that is wrong as a whole can still hold correct steps (BCPG-NSA, arXiv 2505.14403, credits
them). The paper has a segmenter cut long chains of thought into steps and an LLM judge with a process
reward model label them; these tasks need neither, their steps are checked exactly:

==============  =======================================  =============================================
task            a step                                   verified when
==============  =======================================  =============================================
``addition``    a digit of the sum                       it and every digit before it are the sum's
``sort``        an item with the comma that follows it   it and every item before it are the sorted
                (in the answer: the last item has none)  operands', in order
``countdown``   an operation (two numbers or more,       it spends given numbers only, each once at
                its parentheses included)                most, and the target is still reachable from
                                                         its value and the numbers left
==============  =======================================  =============================================

Addition and sorting take the longest correct prefix: a step after a wrong one is not credited (the
paper's judge rule of error propagation). A countdown operation is credited wherever it stands; a single
number is no step. A correct response is verified whole; a response without an end (``None``) or a
countdown response that does not parse has no verified step.
"""

from __future__ import annotations

from collections import Counter

from entropic.tasks.arithmetic import Problem, Task
from entropic.tasks.expressions import Operation, parse, reachable_values


def verified_characters(task: Task, problem: Problem, response: str | None) -> list[bool]:
    """For each character of ``response``, whether it belongs to a verified step (the table above).

    Parameters
    ----------
    task : Task
        The task the problem belongs to.
    problem : Problem
        The problem answered.
    response : str or None
        The response text before its end-of-sequence token; ``None`` when none was written.

    Returns
    -------
    list[bool]
        ``len(response)`` flags (empty for ``None``).
    """
    if response is None:
        return []
    if task.verify(problem, response).correct:
        return [True] * len(response)
    if task.name == "addition":
        return _prefix_flags(response, _common_prefix(response, problem.answer))
    if task.name == "sort":
        return _prefix_flags(response, _sorted_prefix(response, problem.answer))
    return _countdown_flags(response, problem)


def _common_prefix(text: str, reference: str) -> int:
    """Length of the longest common prefix of two texts."""
    length = 0
    for a, b in zip(text, reference, strict=False):
        if a != b:
            break
        length += 1
    return length


def _sorted_prefix(response: str, answer: str) -> int:
    """Characters of the leading items of ``response`` equal to ``answer``'s, in order, each with the comma
    that follows it in the answer (the last item has none)."""
    expected = answer.split(",")
    length = 0
    for index, (item, wanted) in enumerate(zip(response.split(","), expected, strict=False)):
        if item != wanted:
            break
        length += len(item) + (index < len(expected) - 1)
    return min(length, len(response))


def _prefix_flags(response: str, length: int) -> list[bool]:
    return [i < length for i in range(len(response))]


def _countdown_flags(response: str, problem: Problem) -> list[bool]:
    """Flags of the characters inside an operation on the way to the target."""
    operations: list[Operation] = []
    flags = [False] * len(response)
    if parse(response, operations) is None:
        return flags
    given = Counter(problem.operands)
    for op in operations:
        spent = Counter(op.numbers)
        if not spent <= given:
            continue  # spends a number that is not given, or one too often
        if problem.target in reachable_values(tuple(sorted((op.value, *(given - spent).elements())))):
            flags[op.start:op.end] = [True] * (op.end - op.start)
    return flags
