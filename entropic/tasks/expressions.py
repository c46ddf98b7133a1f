"""Countdown expressions: a random expression tree over given numbers, and an exact parser.

Grammar (integers, the usual precedence, no unary minus, no division)::

    expr   := term (('+' | '-') term)*
    term   := factor ('*' factor)*
    factor := number | '(' expr ')'
    number := a decimal numeral without leading zeros

Values are Python integers, so evaluation is exact whatever the size.
"""

from __future__ import annotations

import random

DIGITS = "0123456789"


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


def parse(text: str) -> tuple[int, list[int]] | None:
    """The value of ``text`` and the numbers it uses, in order; ``None`` when ``text`` does not parse."""
    numbers: list[int] = []
    position = 0

    def peek() -> str:
        return text[position] if position < len(text) else ""

    def expr() -> int | None:
        nonlocal position
        value = term()
        while value is not None and peek() in ("+", "-"):
            op = peek()
            position += 1
            right = term()
            if right is None:
                return None
            value = value + right if op == "+" else value - right
        return value

    def term() -> int | None:
        nonlocal position
        value = factor()
        while value is not None and peek() == "*":
            position += 1
            right = factor()
            if right is None:
                return None
            value *= right
        return value

    def factor() -> int | None:
        nonlocal position
        if peek() == "(":
            position += 1
            value = expr()
            if value is None or peek() != ")":
                return None
            position += 1
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
