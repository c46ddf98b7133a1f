"""Step verification (BCPG-NSA's correct steps of wrong responses), worked by hand for each task."""

from __future__ import annotations

import pytest

from entropic.tasks import Problem, Task, verified_characters
from entropic.tasks.expressions import Operation, parse, reachable_values

ADDITION = Task("addition", 2, 2), Problem((12, 7), 19, "A12+07=", "19")
SORT = Task("sort", 2, 3), Problem((12, 7, 33), 0, "S12,07,33=", "7,12,33")
COUNTDOWN = Task("countdown", 1, 3), Problem((3, 4, 7), 25, "C3,4,7:025=", "3*7+4")


def _flags(case: tuple[Task, Problem], response: str | None) -> str:
    return "".join("1" if flag else "0" for flag in verified_characters(*case, response))


@pytest.mark.parametrize("response, flags", [
    ("19", "11"),     # correct: all of it
    ("18", "10"),     # the tens digit is the sum's
    ("29", "00"),     # a wrong first digit: the right units digit after it is not credited
    ("190", "110"),   # the sum, then a wrong extra digit
    ("1", "1"),       # cut short
])
def test_addition_credits_the_longest_correct_prefix_of_digits(response: str, flags: str) -> None:
    assert _flags(ADDITION, response) == flags


@pytest.mark.parametrize("response, flags", [
    ("7,12,33", "1111111"),
    ("7,13,33", "1100000"),     # 7 and its comma; 13 is wrong and 33 after it is not credited
    ("7,12,3", "111110"),       # two items, then a partial one
    ("7,12,334", "11111000"),   # the last item must be 33, not start with it
    ("7,12,33,", "11111110"),   # the last item has no comma in the answer
    ("12,7,33", "0000000"),     # out of order from the first item
    ("7,12", "1111"),
])
def test_sort_credits_the_longest_prefix_of_sorted_items(response: str, flags: str) -> None:
    assert _flags(SORT, response) == flags


@pytest.mark.parametrize("response, flags", [
    ("3*7+4", "11111"),    # correct
    ("3*7+5", "11100"),    # 3*7 = 21, and 21 + 4 reaches 25; 5 is not given
    ("3*7-4", "11100"),    # 3*7 on the way, the subtraction is not
    ("3*7", "111"),        # an unfinished solution: 21 and the 4 left still reach 25
    ("4+3*7", "11111"),    # correct in another order
    ("7*3*4", "11100"),    # 7*3 on the way; 21 * 4 is not 25
    ("(3+4)*7", "0000000"),  # 3+4 = 7 and {7, 7} reach 0, 14 or 49, not 25
    ("3*3+4", "00000"),    # 3 is given once
    ("3*7+", "0000"),      # does not parse
])
def test_countdown_credits_the_operations_on_the_way_to_the_target(response: str, flags: str) -> None:
    assert _flags(COUNTDOWN, response) == flags


def test_a_response_without_an_end_has_no_step() -> None:
    assert verified_characters(*SORT, None) == []


def test_parse_records_each_operation_with_its_span() -> None:
    operations: list[Operation] = []
    assert parse("(3+4)*7-2", operations) == (47, [3, 4, 7, 2])
    assert operations == [Operation(1, 4, 7, (3, 4)), Operation(0, 5, 7, (3, 4)), Operation(0, 7, 49, (3, 4, 7)),
                          Operation(0, 9, 47, (3, 4, 7, 2))]


def test_reachable_values_of_two_and_three_numbers() -> None:
    assert reachable_values((2, 5)) == {7, -3, 3, 10}
    # {1, 2, 3}: every tree by hand; 9 = (1 + 2) * 3, -5 = 1 - 2 * 3, 7 = 1 + 2 * 3
    assert {9, -5, 7, 0, 6, 5, 1, -1} <= reachable_values((1, 2, 3))
    assert 100 not in reachable_values((1, 2, 3))
