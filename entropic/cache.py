"""Where warm starts are cached, and how a cache entry is written so a reader never sees half of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def cache_dir(setting: str | None) -> Path | None:
    """The cache directory of a ``cache_dir`` setting, or ``None`` when caching is off.

    ``""`` turns caching off; ``None`` means ``$ENTROPIC_CACHE_DIR``, else ``$XDG_CACHE_HOME/entropic``,
    else ``~/.cache/entropic``; anything else is the directory itself.
    """
    if setting == "":
        return None
    if setting is not None:
        return Path(setting).expanduser()
    if os.environ.get("ENTROPIC_CACHE_DIR"):
        return Path(os.environ["ENTROPIC_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "entropic"


def atomic_save(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` ``payload`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(handle)
    torch.save(payload, temporary)
    os.replace(temporary, path)
