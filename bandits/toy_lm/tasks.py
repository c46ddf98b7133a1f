"""Synthetic tasks with exact verifiers: the tokenizer, problem generators, verifiers and rewards.

One character is one token. A prompt is ``<bos>``, a task letter and the problem, ending in ``=``;
operands are zero-padded to ``num_digits`` so every prompt of a task has the same length. A
response is the answer followed by ``<eos>``:

==============  ========================  ======================  =============================
task            prompt (after ``<bos>``)  a correct response      correct iff
==============  ========================  ======================  =============================
``addition``    ``A12+07=``               ``19<eos>``             the decimal sum, no leading 0
``sort``        ``S12,07,33=``            ``7,12,33<eos>``        the operands in ascending order
``countdown``   ``C3,4,7:025=``           ``3*7+4<eos>``          an expression with ``+ - *`` and
                                                                  parentheses that uses every
                                                                  given number exactly once and
                                                                  equals the target
==============  ========================  ======================  =============================

A response is *well formed* when it ends in ``<eos>`` and the text before it parses (digits
without leading zeros; a comma-separated list; an expression). Malformed responses are never
correct. Addition and sorting have one correct response per problem (``unique_answer``);
countdown usually has several, as the TinyZero countdown task does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from entropic.sims.toy_lm.expressions import DIGITS, evaluate, is_number, parse, random_expression

VOCAB = ("<pad>", "<bos>", "<eos>", *"0123456789", "+", "-", "*", "(", ")", "=", ",", ":", "A", "S", "C")
"""Token strings; the id of a token is its index (V = 24)."""
PAD, BOS, EOS = 0, 1, 2
TOKEN_ID = {token: index for index, token in enumerate(VOCAB)}
TASKS = ("addition", "sort", "countdown")


def encode(text: str) -> list[int]:
    """Token ids of ``text``, one character a token (no ``<bos>`` / ``<eos>`` added)."""
    return [TOKEN_ID[char] for char in text]


def decode(ids: list[int] | torch.Tensor) -> str:
    """The text of token ids; special tokens are written as ``<pad>``, ``<bos>``, ``<eos>``."""
    return "".join(VOCAB[int(i)] for i in ids)


def response_text(ids: list[int]) -> str | None:
    """The response before its first ``<eos>``; ``None`` when there is no ``<eos>`` (cut at max length).

    Special tokens before the ``<eos>`` come out as ``?``, which no verifier accepts.
    """
    if EOS not in ids:
        return None
    return "".join(VOCAB[i] if i > EOS else "?" for i in ids[:ids.index(EOS)])




@dataclass(frozen=True)
class Verdict:
    """The verifier's answer: ``correct`` implies ``well_formed``."""

    correct: bool
    well_formed: bool


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
        Prompt text after ``<bos>``, ending in ``=``.
    answer : str
        A correct response without ``<eos>``: the only one (addition, sort) or the expression the
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
        """Exact verdict on ``response`` (the text before ``<eos>``; ``None`` = no ``<eos>``)."""
        if response is None:
            return Verdict(False, False)
        if self.name == "addition":
            ok = is_number(response)
            return Verdict(ok and int(response) == problem.target, ok)
        if self.name == "sort":
            items = response.split(",")
            ok = all(is_number(item) for item in items)
            return Verdict(ok and [int(i) for i in items] == sorted(problem.operands), ok)
        parsed = parse(response)
        if parsed is None:
            return Verdict(False, False)
        value, numbers = parsed
        return Verdict(value == problem.target and sorted(numbers) == sorted(problem.operands), True)


# ---------------------------------------------------------------- batches
@dataclass(frozen=True)
class Dataset:
    """A fixed list of problems and their token tensors.

    Attributes
    ----------
    problems : list[Problem]
        n problems.
    prompts : LongTensor [n, T_prompt]
        ``<bos>`` + prompt.
    answers : LongTensor [n, A]
        A correct response + ``<eos>``, right-padded with ``<pad>``.
    """

    problems: list[Problem]
    prompts: torch.Tensor
    answers: torch.Tensor

    @classmethod
    def build(cls, task: Task, size: int, seed: int) -> Dataset:
        """``size`` problems drawn with ``random.Random(seed)``."""
        rng = random.Random(seed)
        problems = [task.sample(rng) for _ in range(size)]
        prompts = torch.tensor([[BOS, *encode(p.prompt)] for p in problems], dtype=torch.long)
        width = task.max_answer_len + 1
        answers = torch.full((size, width), PAD, dtype=torch.long)
        for i, problem in enumerate(problems):
            ids = [*encode(problem.answer), EOS]
            answers[i, :len(ids)] = torch.tensor(ids)
        return cls(problems, prompts, answers)

    def __len__(self) -> int:
        return len(self.problems)


def verify_batch(task: Task, dataset: Dataset, problem_ids: torch.Tensor,
                 tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Verdicts of responses ``tokens [B, T]`` to problems ``problem_ids [B]`` of ``dataset``.

    Returns ``correct`` and ``well_formed``, BoolTensors ``[B]``. Repeated (problem, response)
    pairs, common within a GRPO group, are verified once.
    """
    seen: dict[tuple[int, str | None], Verdict] = {}
    correct, well_formed = [], []
    for pid, ids in zip(problem_ids.tolist(), tokens.tolist(), strict=True):
        key = (pid, response_text(ids))
        verdict = seen.get(key)
        if verdict is None:
            verdict = seen[key] = task.verify(dataset.problems[pid], key[1])
        correct.append(verdict.correct)
        well_formed.append(verdict.well_formed)
    return torch.tensor(correct, dtype=torch.bool), torch.tensor(well_formed, dtype=torch.bool)


def shaped_reward(correct: torch.Tensor, well_formed: torch.Tensor, lengths: torch.Tensor, max_len: int,
                  format_penalty: float, overlong_buffer_len: int, overlong_penalty_factor: float) -> torch.Tensor:
    """Outcome reward ``[B]``: 1 if correct else 0, minus ``format_penalty`` if malformed, plus DAPO's
    overlong shaping (arXiv 2503.14476) ``min(-(L - (L_max - L_buf)) / L_buf * factor, 0)`` when ``L_buf > 0``.

    ``lengths [B]`` count response tokens including ``<eos>``; ``max_len`` is ``L_max``.
    """
    reward = correct.to(lengths.dtype) - format_penalty * (~well_formed).to(lengths.dtype)
    if overlong_buffer_len > 0:
        exceed = lengths - (max_len - overlong_buffer_len)
        reward = reward + (-exceed / overlong_buffer_len * overlong_penalty_factor).clamp(max=0.0)
    return reward
