"""The toy LM's side of the arithmetic tasks (:mod:`entropic.tasks`): its tokenizer, problem tensors, batch verdicts.

One character is one token. A prompt is ``<bos>`` and the task's prompt text; a response is the
answer followed by ``<eos>`` (``A12+07=`` -> ``19<eos>``). A response without ``<eos>`` (cut at the
length limit) is malformed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from entropic.tasks.answers import answer_id
from entropic.tasks.arithmetic import TASKS, Problem, Task, Verdict
from entropic.tasks.rewards import shaped_reward
from entropic.tasks.steps import verified_characters

__all__ = ["BOS", "EOS", "PAD", "TASKS", "VOCAB", "Dataset", "Problem", "Task", "Verdict", "decode", "encode",
           "response_text", "shaped_reward", "verified_steps", "verify_batch"]

VOCAB = ("<pad>", "<bos>", "<eos>", *"0123456789", "+", "-", "*", "(", ")", "=", ",", ":", "A", "S", "C")
"""Token strings; the id of a token is its index (V = 24)."""
PAD, BOS, EOS = 0, 1, 2
TOKEN_ID = {token: index for index, token in enumerate(VOCAB)}


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
                 tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Verdicts of responses ``tokens [B, T]`` to problems ``problem_ids [B]`` of ``dataset``.

    Returns ``correct`` and ``well_formed``, BoolTensors ``[B]``, and ``answer``, LongTensor ``[B]``:
    the id of each parsed answer (:func:`entropic.tasks.answer_id`, -1 when none parses). Repeated
    (problem, response) pairs, common within a GRPO group, are verified once.
    """
    seen: dict[tuple[int, str | None], tuple[Verdict, int]] = {}
    correct, well_formed, answer = [], [], []
    for pid, ids in zip(problem_ids.tolist(), tokens.tolist(), strict=True):
        key = (pid, response_text(ids))
        known = seen.get(key)
        if known is None:
            verdict = task.verify(dataset.problems[pid], key[1])
            known = seen[key] = (verdict, answer_id(verdict.answer))
        correct.append(known[0].correct)
        well_formed.append(known[0].well_formed)
        answer.append(known[1])
    return (torch.tensor(correct, dtype=torch.bool), torch.tensor(well_formed, dtype=torch.bool),
            torch.tensor(answer, dtype=torch.long))


def verified_steps(task: Task, dataset: Dataset, problem_ids: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """BoolTensor ``[B, T]``: the tokens of ``tokens [B, T]`` that belong to verified steps of their response
    (:func:`entropic.tasks.verified_characters`, one character a token; ``<eos>`` and padding never do).

    A response cut at the length limit has none. Repeated (problem, response) pairs are verified once.
    """
    B, T = tokens.shape
    flags = torch.zeros(B, T, dtype=torch.bool)
    seen: dict[tuple[int, str | None], list[bool]] = {}
    for row, (pid, ids) in enumerate(zip(problem_ids.tolist(), tokens.tolist(), strict=True)):
        key = (pid, response_text(ids))
        known = seen.get(key)
        if known is None:
            known = seen[key] = verified_characters(task, dataset.problems[pid], key[1])
        if known:
            flags[row, :len(known)] = torch.tensor(known)
    return flags.to(tokens.device)
