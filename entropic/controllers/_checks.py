"""Validation functions shared by the controller config dataclasses (messages name the config path)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

C = TypeVar("C")


def from_mapping(cls: type[C], data: Any, where: str) -> C:
    """``cls(**data)``; a non-mapping or an unknown key raises ``ValueError`` naming ``where``."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a mapping of {cls.__name__} fields, got {data!r}")
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValueError(f"{where} has unknown field(s) {unknown}; allowed: {allowed}")
    return cls(**dict(data))


class FromDict:
    """Mixin: ``from_dict`` for a config dataclass whose config path is ``where``."""

    where: ClassVar[str] = "controller.law"

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        """Build from a mapping (a YAML section); unknown keys raise ``ValueError``."""
        return from_mapping(cls, data, cls.where)


def is_number(value: Any) -> bool:
    """An int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite(where: str, value: Any, low: float = -math.inf) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number ``>= low``."""
    if not (is_number(value) and math.isfinite(value) and value >= low):
        bound = "" if low == -math.inf else f" >= {low}"
        raise ValueError(f"{where} must be a finite number{bound}, got {value!r}")


def optional_finite(where: str, value: Any, low: float = -math.inf) -> None:
    """Like :func:`finite`, ``None`` allowed."""
    if value is not None:
        finite(where, value, low)


def choice(where: str, value: Any, allowed: list[str]) -> None:
    """Raise ``ValueError`` listing ``allowed`` unless ``value`` is one of them."""
    if value not in allowed:
        raise ValueError(f"{where}={value!r} is not allowed; allowed values: {allowed}")
