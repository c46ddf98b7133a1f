"""Build a toy-LM backend from flat config fields: the Hydra ``_target_`` of ``configs/backend/toy_lm.yaml``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from entropic.sims.factory import backend_from_fields
from entropic.sims.toy_lm.backend import ToyLMBackend
from entropic.sims.toy_lm.config import ToyLMConfig


def make_backend(num_runs: int = 1, seeds: Sequence[int] | None = None,
                 lr: float | Sequence[float] | None = None, **fields: Any) -> ToyLMBackend:
    """Build a :class:`ToyLMBackend` (the ``_target_`` of ``configs/backend/toy_lm*.yaml``).

    Parameters
    ----------
    num_runs : int
        R.
    seeds : sequence of int, optional
        One sampling seed per run; default ``seed + r``.
    lr : float or sequence of float, optional
        One learning rate for every run (stored as ``ToyLMConfig.lr``), or one per run.
    **fields
        Any other :class:`ToyLMConfig` fields; sequences (e.g. from OmegaConf) become lists.
    """
    return backend_from_fields(ToyLMBackend, ToyLMConfig, num_runs, seeds, lr, fields)
