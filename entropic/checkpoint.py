"""Atomic checkpoints: a crash or a kill never leaves a half-written file behind.

A checkpoint is one ``torch.save`` of a nested state dict, written to a temporary
file in the same directory and moved into place with :func:`os.replace`. The
newest complete checkpoint is found by step number.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

_NAME = re.compile(r"^step_(\d+)\.pt$")


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
    """The newest checkpoint's state, or ``None`` when there is none."""
    paths = list_checkpoints(directory)
    if not paths:
        return None
    return torch.load(paths[-1], weights_only=False)
