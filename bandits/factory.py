"""Build a backend from flat config fields: the Hydra ``_target_`` of ``configs/backend/bandit.yaml``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bandits.backend import SoftmaxBanditBackend
from bandits.config import BanditConfig


def make_backend(num_runs: int = 1, seeds: Sequence[int] | None = None,
                 lr: float | Sequence[float] | None = None, **fields: Any) -> SoftmaxBanditBackend:
    """Build a backend from flat config fields (the ``_target_`` of ``configs/backend/bandit.yaml``).

    Parameters
    ----------
    num_runs : int
        R.
    seeds : sequence of int, optional
        One sampling seed per run; default ``seed + r``.
    lr : float or sequence of float, optional
        One learning rate for every run (stored as ``BanditConfig.lr``), or one per run.
    **fields
        Any other :class:`BanditConfig` fields; sequences (e.g. from OmegaConf) become lists.
    """
    fields = {name: list(value) if isinstance(value, Sequence) and not isinstance(value, str) else value
              for name, value in fields.items()}
    per_run = isinstance(lr, Sequence)
    if lr is not None and not per_run:
        fields["lr"] = float(lr)
    return SoftmaxBanditBackend(BanditConfig(**fields), num_runs=num_runs,
                                seeds=None if seeds is None else list(seeds),
                                lr=[float(x) for x in lr] if per_run else None)
