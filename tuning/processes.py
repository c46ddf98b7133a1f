"""Runs in processes of their own, for backends that train one run per process (the LLM backend).

A backend factory (the function a backend config's ``_target_`` names) may declare ``max_runs``: the
most runs one instance simulates. The identification experiments and the study's simulator batch R
runs in one backend where they can; past ``max_runs`` they call :func:`run_apart`, which runs each
job in a fresh spawned process (no CUDA context, model or RNG state shared between runs) and
returns the results in order.
"""

from __future__ import annotations

import multiprocessing
import pickle
import resource
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from hydra.utils import get_method


def max_runs(backend: Mapping[str, Any]) -> int | None:
    """The ``max_runs`` its factory declares for the backend config ``backend`` (``None``: any number)."""
    return getattr(get_method(str(backend["_target_"])), "max_runs", None)


def run_apart(fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], workers: int = 1) -> list[Any]:
    """``fn(*job)`` for every job, each in a new spawned process, ``workers`` at a time; the results in order.

    ``fn`` must be a module-level function (the child imports it by name) whose arguments and
    result pickle. The children's CPU time shows in :func:`cpu_seconds` once this returns.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, max_tasks_per_child=1) as pool:
        return [pickle.loads(data) for data in pool.map(_pickled, [fn] * len(jobs), jobs)]


def _pickled(fn: Callable[..., Any], args: tuple[Any, ...]) -> bytes:
    """``fn(*args)`` pickled in the child: torch's sharing of tensors through file descriptors dies with the child."""
    return pickle.dumps(fn(*args))


def cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have ended (user + system)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime
