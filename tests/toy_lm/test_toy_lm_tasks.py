"""The verifiers are exact, malformed responses included; prompts, datasets and reward shaping."""

from __future__ import annotations

import random

import pytest
import torch

from entropic.sims.toy_lm.tasks import (
    BOS,
    EOS,
    PAD,
    VOCAB,
    Dataset,
    Problem,
    Task,
    decode,
    encode,
    response_text,
    shaped_reward,
    verify_batch,
)
from entropic.tasks import NO_ANSWER, answer_id

ADDITION = Task("addition", 2, 2)
SORT = Task("sort", 2, 3)
COUNTDOWN = Task("countdown", 1, 3)
SUM = Problem((12, 7), 19, "A12+07=", "19")
LIST = Problem((12, 7, 33), 0, "S12,07,33=", "7,12,33")
GAME = Problem((3, 4, 7), 25, "C3,4,7:025=", "3*7+4")


@pytest.mark.parametrize("task, problem, response, correct, well_formed", [
    (ADDITION, SUM, "19", True, True),
    (ADDITION, SUM, "18", False, True),
    (ADDITION, SUM, "019", False, False),  # leading zero
    (ADDITION, SUM, "", False, False),
    (ADDITION, SUM, "1 9", False, False),
    (ADDITION, SUM, "19+", False, False),
    (ADDITION, SUM, "1?9", False, False),  # a special token inside
    (ADDITION, SUM, None, False, False),  # no <eos>: cut at max length
    (ADDITION, Problem((0, 0), 0, "A00+00=", "0"), "0", True, True),
    (ADDITION, Problem((0, 0), 0, "A00+00=", "0"), "00", False, False),
    (SORT, LIST, "7,12,33", True, True),
    (SORT, LIST, "12,7,33", False, True),
    (SORT, LIST, "7,12", False, True),  # an item missing
    (SORT, LIST, "7,12,33,33", False, True),
    (SORT, LIST, "07,12,33", False, False),
    (SORT, LIST, "7,,12,33", False, False),
    (SORT, LIST, "7,12,33,", False, False),
    (SORT, LIST, ",7,12,33", False, False),
    (SORT, LIST, "7+12,33", False, False),
    (SORT, LIST, None, False, False),
    (COUNTDOWN, GAME, "3*7+4", True, True),
    (COUNTDOWN, GAME, "4+7*3", True, True),
    (COUNTDOWN, GAME, "(4+7*3)", True, True),
    (COUNTDOWN, GAME, "7*3+4", True, True),
    (COUNTDOWN, GAME, "(3+4)*7", False, True),  # 49
    (COUNTDOWN, GAME, "7*3+4+0", False, True),  # a number not given
    (COUNTDOWN, GAME, "7*4-3", True, True),  # 25 with every number once
    (COUNTDOWN, GAME, "21+4", False, True),  # 21 is not a given number
    (COUNTDOWN, GAME, "7*3+4*1", False, True),
    (COUNTDOWN, GAME, "3*7", False, True),  # 4 unused
    (COUNTDOWN, GAME, "7*3+3", False, True),  # 3 reused, 4 unused
    (COUNTDOWN, GAME, "3*7+4)", False, False),
    (COUNTDOWN, GAME, "(3*7+4", False, False),
    (COUNTDOWN, GAME, "3*7++4", False, False),
    (COUNTDOWN, GAME, "3*7+", False, False),
    (COUNTDOWN, GAME, "3*(7)+04", False, False),
    (COUNTDOWN, GAME, "()", False, False),
    (COUNTDOWN, GAME, "", False, False),
    (COUNTDOWN, GAME, "3,7,4", False, False),
    (COUNTDOWN, GAME, None, False, False),
])
def test_verifier_on_hand_written_cases(task: Task, problem: Problem, response: str | None, correct: bool,
                                        well_formed: bool) -> None:
    verdict = task.verify(problem, response)
    assert (verdict.correct, verdict.well_formed) == (correct, well_formed)


def test_countdown_allows_negative_intermediates_and_checks_the_value_exactly() -> None:
    game = Problem((2, 9, 5), 3, "C2,9,5:003=", "2-9+5*2")
    assert COUNTDOWN.verify(game, "2-9+5*2").correct is False  # 2 used twice
    game = Problem((2, 9, 5), 2, "C2,9,5:002=", "2-(9-5)")
    assert COUNTDOWN.verify(game, "2-9+5").correct is False  # -2
    assert COUNTDOWN.verify(game, "5-(9-2)").correct is False  # -2
    game = Problem((2, 9, 5), 12, "C2,9,5:012=", "9-2+5")
    assert COUNTDOWN.verify(game, "9-2+5").correct and COUNTDOWN.verify(game, "5-2+9").correct


def test_response_text_stops_at_the_first_eos_and_marks_specials() -> None:
    assert response_text([*encode("19"), EOS, *encode("7"), EOS]) == "19"
    assert response_text([*encode("19"), PAD]) is None
    assert response_text([*encode("1"), BOS, *encode("9"), EOS]) == "1?9"
    assert decode(encode("A12+07=")) == "A12+07=" and len(VOCAB) == 24


@pytest.mark.parametrize("task", [ADDITION, SORT, COUNTDOWN, Task("addition", 3, 4), Task("countdown", 2, 4)],
                         ids=["addition", "sort", "countdown", "addition-3x4", "countdown-2x4"])
def test_generated_problems_are_solved_by_their_answer(task: Task) -> None:
    data = Dataset.build(task, 200, seed=3)
    assert data.prompts.shape == (200, task.prompt_len) and bool((data.prompts[:, 0] == BOS).all())
    for problem in data.problems:
        assert task.verify(problem, problem.answer).correct, problem
        assert len(problem.answer) <= task.max_answer_len
        assert encode(problem.prompt)[-1] == encode("=")[0]
    correct, well_formed, answer = verify_batch(task, data, torch.arange(200), data.answers)
    assert bool(correct.all()) and bool(well_formed.all()) and bool((answer >= 0).all())
    assert Dataset.build(task, 200, seed=3).problems == data.problems


def test_sort_answer_is_unique_and_countdown_is_not() -> None:
    assert ADDITION.unique_answer and SORT.unique_answer and not COUNTDOWN.unique_answer
    rng = random.Random(0)
    problem = COUNTDOWN.sample(rng)
    assert COUNTDOWN.verify(problem, problem.answer).correct


def test_verify_batch_reads_tokens_up_to_eos() -> None:
    data = Dataset(problems=[SUM], prompts=torch.tensor([[BOS, *encode(SUM.prompt)]]), answers=torch.zeros(1, 1))
    rows = [[*encode("19"), EOS, PAD, PAD], [*encode("19"), EOS, *encode("55")], [*encode("19"), PAD, EOS, PAD],
            [*encode("19191")]]  # five tokens each
    correct, well_formed, answer = verify_batch(ADDITION, data, torch.zeros(4, dtype=torch.long), torch.tensor(rows))
    assert correct.tolist() == [True, True, False, False] and well_formed.tolist() == [True, True, False, False]
    assert answer.tolist() == [answer_id("19")] * 2 + [NO_ANSWER] * 2  # the answer text before the EOS


def test_overlong_shaping_is_dapos_linear_ramp_and_format_penalty_applies_to_malformed() -> None:
    correct = torch.tensor([True, True, True, True, False, False])
    well_formed = torch.tensor([True, True, True, True, True, False])
    lengths = torch.tensor([4.0, 6.0, 7.0, 10.0, 3.0, 10.0])
    # L_max = 10, L_buf = 4: no penalty up to 6 tokens, then -1/4 per token, -1 at 10
    reward = shaped_reward(correct, well_formed, lengths, 10, 0.5, 4, 1.0)
    assert torch.allclose(reward, torch.tensor([1.0, 1.0, 0.75, 0.0, 0.0, -1.5]))
    plain = shaped_reward(correct, well_formed, lengths, 10, 0.0, 0, 1.0)
    assert torch.equal(plain, correct.float())
