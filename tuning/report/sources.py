"""Which report a directory holds, found by the files each tool writes; also one level down."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KINDS", "Source", "find_sources"]

KINDS: dict[str, tuple[str, ...]] = {
    "study": ("report.md", "tune_summary.json"),  # entropic-tune (report.md alone is too common a name)
    "design": ("design.md",),                     # entropic-design
    "laws": ("laws.md",),                         # entropic-laws
    "transfer": ("transfer.md",),                 # entropic-transfer
}
"""Kind of report -> the files that mark it; the first is its Markdown."""


@dataclass(frozen=True)
class Source:
    """One report: its kind (a key of :data:`KINDS`) and the directory holding it."""

    kind: str
    directory: Path

    @property
    def markdown(self) -> Path:
        return self.directory / KINDS[self.kind][0]


def _natural(path: Path) -> list[str | int]:
    """Sort key putting Hydra's multirun folders 2 before 10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _here(directory: Path) -> list[Source]:
    return [Source(kind, directory) for kind, marks in KINDS.items()
            if all((directory / name).is_file() for name in marks)]


def _looked_for() -> str:
    return ", ".join(" with ".join(marks) + f" ({kind})" for kind, marks in KINDS.items())


def sources_in(directory: Path) -> list[Source]:
    """The reports in ``directory`` itself, then in its sub-directories (natural order); ``ValueError`` if none."""
    if not directory.is_dir():
        raise ValueError(f"{directory} is not a directory")
    subdirectories = sorted((path for path in directory.iterdir() if path.is_dir()), key=_natural)
    found = _here(directory) + [source for path in subdirectories for source in _here(path)]
    if not found:
        raise ValueError(f"{directory} holds no report, neither itself nor its sub-directories: "
                         f"looked for {_looked_for()}")
    return found


def find_sources(directories: Iterable[str | Path]) -> list[Source]:
    """The reports in each of ``directories`` (:func:`sources_in`) in order, each report once."""
    seen, found = set(), []
    for directory in directories:
        for source in sources_in(Path(directory)):
            key = (source.kind, source.directory.resolve())
            if key not in seen:
                seen.add(key)
                found.append(source)
    return found
