"""Build a backend from flat config fields: the Hydra ``_target_`` of ``configs/backend/bandit.yaml``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from entropic.per_run import split_runs
from entropic.sims.backend import SoftmaxBanditBackend
from entropic.sims.config import BanditConfig

B = TypeVar("B")


def backend_from_fields(backend: Callable[..., B], config: Callable[..., Any], num_runs: int,
                        seeds: Sequence[int] | None, lr: float | Sequence[float] | None,
                        fields: dict[str, Any]) -> B:
    """``backend(config(**fields), num_runs, seeds, lr)`` from flat Hydra fields, shared by every simulator.

    Sequences (e.g. OmegaConf lists) become lists; a single ``lr`` is stored in the config, a list of
    ``num_runs`` of them (expanded by :func:`~entropic.per_run.split_runs`) is passed on as one learning
    rate per run.
    """
    fields = {name: list(value) if isinstance(value, Sequence) and not isinstance(value, str) else value
              for name, value in fields.items()}
    rates = split_runs(lr, num_runs, "backend.lr")
    try:
        rates = None if rates is None else [float(x) for x in rates]
        if lr is not None and rates is None:
            fields["lr"] = float(lr)
    except (TypeError, ValueError):
        raise ValueError(f"backend.lr must be a number or a list of num_runs={num_runs} numbers (one per run), "
                         f"got {lr!r}") from None
    return backend(config(**fields), num_runs=num_runs, seeds=None if seeds is None else list(seeds), lr=rates)


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
    return backend_from_fields(SoftmaxBanditBackend, BanditConfig, num_runs, seeds, lr, fields)
