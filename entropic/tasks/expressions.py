"""Countdown expressions: a random expression tree over given numbers, and an exact parser.

Grammar (integers, the usual precedence, no unary minus, no division)::

    expr   := term (('+' | '-') term)*
    term   := factor ('*' factor)*
    factor := number | '(' expr ')'
    number := a decimal numeral without leading zeros

Values are Python integers, so evaluation is exact whatever the size.
"""

from __future__ import annotations

import functools
import random
from typing import NamedTuple

DIGITS = "0123456789"


class Operation(NamedTuple):
    """One operation of a parsed expression: the sub-expression ``text[start:end]`` (its parentheses
    included when it has them), its ``value`` and the ``numbers`` it spends, in order (two or more)."""

    start: int
    end: int
    value: int
    numbers: tuple[int, ...]


def is_number(text: str) -> bool:
    """A non-empty decimal numeral without leading zeros."""
    return text != "" and all(c in DIGITS for c in text) and (text == "0" or text[0] != "0")


_PRECEDENCE = {"+": 1, "-": 1, "*": 2}


def random_expression(values: list[int], rng: random.Random) -> tuple[str, int]:
    """A random binary expression tree over ``values`` (in random order), written with minimal parentheses.

    Returns the text and the precedence of its top operator (3 for a bare number).
    """
    rng.shuffle(values)
    if len(values) == 1:
        return str(values[0]), 3
    split = rng.randrange(1, len(values))
    op = rng.choice("+-*")
    (left, left_prec), (right, right_prec) = random_expression(values[:split], rng), \
        random_expression(values[split:], rng)
    prec = _PRECEDENCE[op]
    if left_prec < prec:
        left = f"({left})"
    if right_prec < prec or (op == "-" and right_prec == prec):
        right = f"({right})"
    return f"{left}{op}{right}", prec


def evaluate(text: str) -> int:
    """The value of expression ``text``; ``ValueError`` when it does not parse."""
    parsed = parse(text)
    if parsed is None:
        raise ValueError(f"not an expression: {text!r}")
    return parsed[0]


def parse(text: str, operations: list[Operation] | None = None) -> tuple[int, list[int]] | None:
    """The value of ``text`` and the numbers it uses, in order; ``None`` when ``text`` does not parse.

    With ``operations``, every operation met is appended to it (:class:`Operation`; a left-associative
    chain ``a+b-c`` holds ``a+b`` and ``a+b-c``, a parenthesised one also counts with its parentheses),
    also those of a text that turns out not to parse.
    """
    numbers: list[int] = []
    position = 0

    def peek() -> str:
        return text[position] if position < len(text) else ""

    def record(start: int, first: int, value: int) -> None:
        if operations is not None:
            operations.append(Operation(start, position, value, tuple(numbers[first:])))

    def expr() -> int | None:
        nonlocal position
        start, first = position, len(numbers)
        value = term()
        while value is not None and peek() in ("+", "-"):
            op = peek()
            position += 1
            right = term()
            if right is None:
                return None
            value = value + right if op == "+" else value - right
            record(start, first, value)
        return value

    def term() -> int | None:
        nonlocal position
        start, first = position, len(numbers)
        value = factor()
        while value is not None and peek() == "*":
            position += 1
            right = factor()
            if right is None:
                return None
            value *= right
            record(start, first, value)
        return value

    def factor() -> int | None:
        nonlocal position
        if peek() == "(":
            start, first = position, len(numbers)
            position += 1
            value = expr()
            if value is None or peek() != ")":
                return None
            position += 1
            if len(numbers) - first >= 2:
                record(start, first, value)
            return value
        start = position
        while peek() != "" and peek() in DIGITS:
            position += 1
        digits = text[start:position]
        if not is_number(digits):
            return None
        numbers.append(int(digits))
        return int(digits)

    value = expr()
    if value is None or position != len(text):
        return None
    return value, numbers


@functools.lru_cache(maxsize=65536)
def reachable_values(numbers: tuple[int, ...]) -> frozenset[int]:
    """Every value an expression of this grammar takes when it spends each of ``numbers`` (sorted) exactly once.

    The usual countdown recursion: split the numbers into two non-empty parts and combine a value of
    each with ``+``, ``-`` (either way round) or ``*``; parentheses make every tree writable.
    """
    if len(numbers) == 1:
        return frozenset(numbers)
    values: set[int] = set()
    first, rest = numbers[0], numbers[1:]
    for mask in range(1 << len(rest)):  # the part holding numbers[0], each split once
        left = (first, *(n for i, n in enumerate(rest) if mask >> i & 1))
        right = tuple(n for i, n in enumerate(rest) if not mask >> i & 1)
        if not right:
            continue
        for a in reachable_values(left):
            for b in reachable_values(right):
                values.update((a + b, a - b, b - a, a * b))
    return frozenset(values)
