"""BCPG-NSA on the toy LM: the rollout's verified steps, token by token."""

from __future__ import annotations

import torch
from toy_lm_steps import QUICK_PRETRAIN

from entropic.sims.toy_lm import ToyLMBackend
from entropic.sims.toy_lm.tasks import EOS, PAD, Dataset, encode, verified_steps
from entropic.tasks import Problem, Task


def _row(text: str, width: int, end: bool = True) -> list[int]:
    ids = [*encode(text), *([EOS] if end else [])]
    return ids + [PAD] * (width - len(ids))


def test_verified_steps_of_a_batch_worked_by_hand() -> None:
    task = Task("sort", 2, 3)
    problem = Problem((12, 7, 33), 0, "S12,07,33=", "7,12,33")
    dataset = Dataset([problem], torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, 1, dtype=torch.long))
    tokens = torch.tensor([_row("7,13,33", 10), _row("7,12,33", 10), _row("7,12,33,", 10, end=False),
                           _row("7,13,33", 10)])
    got = verified_steps(task, dataset, torch.zeros(4, dtype=torch.long), tokens)
    expected = torch.zeros(4, 10, dtype=torch.bool)
    expected[0, :2] = expected[3, :2] = True  # "7,"; the repeated response is verified once, the same
    expected[1, :7] = True                    # correct: every character, not <eos> nor padding
    assert torch.equal(got, expected)         # row 2 was cut at the length limit: no step


def test_rollout_marks_verified_steps_on_sort(tiny) -> None:
    backend = ToyLMBackend(tiny(task="sort", num_operands=3, **QUICK_PRETRAIN), num_runs=2)
    rollout = backend.rollout()
    verified = rollout.verified_steps
    assert verified is not None and verified.shape == rollout.mask.shape
    assert not bool((verified & ((rollout.mask == 0) | (rollout.tokens == EOS))).any())  # answer characters only
    wrong = rollout.extras["correct"] == 0
    assert bool(verified[wrong].any())  # wrong responses that start right: the steps NSA credits
