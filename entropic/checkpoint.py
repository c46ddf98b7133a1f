"""Atomic checkpoints: a crash or a kill never leaves a half-written file behind.

A checkpoint is one ``torch.save`` of a nested state dict, written to a temporary
file in the same directory and moved into place with :func:`os.replace`. The
newest complete checkpoint is found by step number. Checkpoints are read with
``weights_only=True``: tensors and plain containers only, so opening someone else's
run directory cannot execute code; a file that cannot be read is skipped, with a
warning naming it, for the older one beside it.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

_NAME = re.compile(r"^step_(\d+)\.pt$")
log = logging.getLogger(__name__)


def save_checkpoint(directory: str | Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``state`` as ``directory/step_{step:08d}.pt`` atomically; keep the newest ``keep`` files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"step_{step:08d}.pt"
    tmp = path.with_suffix(".pt.tmp")
    torch.save(state, tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    for old in list_checkpoints(directory)[:-keep]:
        old.unlink()
    return path


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Complete checkpoints in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def load_latest_checkpoint(directory: str | Path) -> dict[str, Any] | None:
    """The newest checkpoint that loads, or ``None`` when there is none.

    Raises ``ValueError`` naming every file when checkpoints exist but none can be read
    (truncated, corrupt, or holding objects other than tensors and plain containers).
    """
    failures = []
    for path in reversed(list_checkpoints(directory)):
        try:
            return torch.load(path, weights_only=True)
        except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as error:
            log.warning("checkpoint %s cannot be read (%s: %s); trying an older one", path, type(error).__name__,
                        str(error).splitlines()[0] if str(error) else "")
            failures.append(f"{path}: {type(error).__name__}")
    if failures:
        raise ValueError(f"no checkpoint in {directory} can be read: {'; '.join(failures)}")
    return None
