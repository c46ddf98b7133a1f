"""A value computed once per tensor and kept on it, recomputed when the tensor (or a dependency) changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

_MEMO_ATTR = "_entropic_memo"


def memo(tensor: torch.Tensor, name: str, depends: tuple[torch.Tensor, ...], compute: Callable[[], Any]) -> Any:
    """``compute()`` once per ``tensor`` (and tensors ``depends``), kept on the tensor itself.

    The entry is keyed by the tensors' identities and version counters, so an in-place change of
    any of them recomputes it; it lives as long as ``tensor``.
    """
    memo = getattr(tensor, _MEMO_ATTR, None)
    if memo is None:
        memo = {}
        setattr(tensor, _MEMO_ATTR, memo)
    stamp = (tensor._version, *((id(t), t._version) for t in depends))
    entry = memo.get(name)
    if entry is not None and entry[0] == stamp and all(a is b for a, b in zip(entry[1], depends, strict=True)):
        return entry[2]
    value = compute()
    memo[name] = (stamp, depends, value)
    return value
