"""Arithmetic tasks with exact verifiers, as text: addition, sorting and countdown.

A prompt is a task letter and the problem, ending in ``=``; operands are zero-padded to
``num_digits`` so every prompt of a task has the same length. A correct response is the answer:

==============  ================  =================  =============================================
task            prompt            a correct answer   correct iff
==============  ================  =================  =============================================
``addition``    ``A12+07=``       ``19``             the decimal sum, no leading 0
``sort``        ``S12,07,33=``    ``7,12,33``        the operands in ascending order
``countdown``   ``C3,4,7:025=``   ``3*7+4``          an expression with ``+ - *`` and parentheses
                                                     that uses every given number exactly once and
                                                     equals the target
==============  ================  =================  =============================================

A response is *well formed* when the text parses (digits without leading zeros; a comma-separated
list; an expression); malformed responses are never correct. Addition and sorting have one correct
response per problem (``unique_answer``); countdown usually has several, as the TinyZero countdown
task does. Every backend tokenizes these texts its own way (the toy LM one character a token).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from entropic.tasks.expressions import DIGITS, evaluate, is_number, parse, random_expression

TASKS = ("addition", "sort", "countdown")


@dataclass(frozen=True)
class Verdict:
    """The verifier's answer: ``correct`` implies ``well_formed``.

    ``answer`` is the canonical text of the answer the verifier parsed from the response, equal for
    responses that mean the same (the cluster of semantic entropy, :func:`entropic.tasks.answer_id`),
    ``None`` when it parsed none. It annotates the verdict and is left out of its equality: two
    verdicts are equal when they judge alike.
    """

    correct: bool
    well_formed: bool
    answer: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Problem:
    """One problem instance.

    Attributes
    ----------
    operands : tuple[int, ...]
        Numbers to add, to sort, or to combine (countdown).
    target : int
        The sum (addition), 0 (sort) or the number to reach (countdown).
    prompt : str
        Prompt text, ending in ``=``.
    answer : str
        A correct response: the only one (addition, sort) or the expression the
        problem was built from (countdown).
    """

    operands: tuple[int, ...]
    target: int
    prompt: str
    answer: str


class Task:
    """A family of problems with an exact verifier.

    Parameters
    ----------
    name : str
        ``addition``, ``sort`` or ``countdown``.
    num_digits : int
        Digits per operand (operands lie in ``[0, 10^d)``; countdown numbers in ``[1, 10^d)``).
    num_operands : int
        Operands per problem: summands, list length, or countdown numbers.
    """

    def __init__(self, name: str, num_digits: int, num_operands: int) -> None:
        if name not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, got {name!r}")
        self.name, self.num_digits, self.num_operands = name, num_digits, num_operands
        self.unique_answer = name != "countdown"
        top = 10 ** num_digits - 1
        self.target_digits = len(str(top ** num_operands)) if name == "countdown" else 0
        k, d = num_operands, num_digits
        self.prompt_len = 1 + 1 + k * d + (k - 1) + 1 + (self.target_digits + 1 if name == "countdown" else 0)
        """Prompt tokens, ``<bos>`` included."""
        self.max_answer_len = {"addition": len(str(k * top)), "sort": k * d + k - 1,
                               "countdown": k * d + 3 * (k - 1)}[name]
        """Longest correct response the generator writes, without ``<eos>``."""
        self.alphabet = {"addition": DIGITS, "sort": DIGITS + ",", "countdown": DIGITS + "+-*()"}[name]
        """Characters a response is made of (the demonstration noise draws from them)."""

    # ------------------------------------------------------------ generation
    def sample(self, rng: random.Random) -> Problem:
        """Draw one problem with ``rng``."""
        d, k = self.num_digits, self.num_operands
        if self.name == "countdown":
            return self._countdown(rng)
        values = tuple(rng.randrange(10 ** d) for _ in range(k))
        padded = [str(v).zfill(d) for v in values]
        if self.name == "addition":
            return Problem(values, sum(values), "A" + "+".join(padded) + "=", str(sum(values)))
        return Problem(values, 0, "S" + ",".join(padded) + "=", ",".join(str(v) for v in sorted(values)))

    def _countdown(self, rng: random.Random) -> Problem:
        d, k = self.num_digits, self.num_operands
        while True:
            values = tuple(rng.randrange(1, 10 ** d) for _ in range(k))
            text, _ = random_expression(list(values), rng)
            target = evaluate(text)
            if 0 <= target < 10 ** self.target_digits:
                prompt = "C" + ",".join(str(v).zfill(d) for v in values) + ":" + str(target).zfill(
                    self.target_digits) + "="
                return Problem(values, target, prompt, text)

    # ------------------------------------------------------------ verification
    def verify(self, problem: Problem, response: str | None) -> Verdict:
        """Exact verdict on ``response`` (the text before the end-of-sequence token; ``None`` = none was written)."""
        if response is None:
            return Verdict(False, False)
        if self.name == "addition":
            ok = is_number(response)
            return Verdict(ok and int(response) == problem.target, ok, response if ok else None)
        if self.name == "sort":
            items = response.split(",")
            ok = all(is_number(item) for item in items)
            return Verdict(ok and [int(i) for i in items] == sorted(problem.operands), ok, response if ok else None)
        parsed = parse(response)
        if parsed is None:
            return Verdict(False, False)
        value, numbers = parsed
        # an expression means its value and the numbers it spends: "3*7+4" and "4+7*3" are one answer
        return Verdict(value == problem.target and sorted(numbers) == sorted(problem.operands), True,
                       f"{value}:{','.join(str(n) for n in sorted(numbers))}")

    def noisy_answer(self, problem: Problem, rng: random.Random, noise: float) -> str:
        """``problem``'s answer with each character replaced, with probability ``noise``, by a random
        character of :attr:`alphabet`: a demonstration for a warm start that is sometimes wrong."""
        return "".join(rng.choice(self.alphabet) if rng.random() < noise else c for c in problem.answer)
