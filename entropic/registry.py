"""Name -> implementation registries filled by decorators.

One :class:`Registry` per family (advantage estimators, policy losses, KL
estimators, ...). Registering a name twice is an error, and looking up an
unknown name raises a :class:`ValueError` that lists the valid names, so a typo
in a config fails before any work starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A named family of implementations.

    Parameters
    ----------
    kind : str
        What the entries are, used in error messages (e.g. ``"advantage estimator"``).
    field : str
        The config field that selects an entry (e.g. ``"adv_estimator"``), named
        in error messages so the user knows which setting to fix.
    """

    def __init__(self, kind: str, field: str) -> None:
        self.kind = kind
        self.field = field
        self._entries: dict[str, T] = {}

    def register(self, *names: str) -> Callable[[T], T]:
        """Return a decorator that files its target under every name in ``names``."""

        def decorator(entry: T) -> T:
            for name in names:
                if name in self._entries:
                    raise ValueError(f"{self.kind} {name!r} is already registered")
                self._entries[name] = entry
            return entry

        return decorator

    def get(self, name: str) -> T:
        """Return the entry filed under ``name``; unknown names raise ``ValueError``."""
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(
                f"{self.field}={name!r} is not a known {self.kind}; allowed values: {self.names()}"
            ) from None

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
