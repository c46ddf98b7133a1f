"""Per-run lists in run configs: a setting given once for every run, or as a list with one value per run.

The knobs of ``control``, the numbers of ``controller`` and ``backend.lr`` may each be such a list
(``num_runs=3 'backend.lr=[16,32,64]'``); :func:`split_runs` is the one place that reads them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any


def split_runs(value: Any, num_runs: int | None, where: str, list_fields: Collection[str] = ()) -> list[Any] | None:
    """The per-run copies of ``value``, or ``None`` when nothing in it is per run.

    Parameters
    ----------
    value : number, str, None, sequence, or a (nested) mapping of these
        A sequence is per run (entry ``r`` for run ``r``), except at a path of ``list_fields``,
        where only a sequence holding sequences is.
    num_runs : int, optional
        R: every per-run list must hold R values; ``None``: they must agree with each other.
    where : str
        Config path of ``value`` (``control.entropy_coeff``, ``controller``, ``backend.lr``), for errors.
    list_fields : collection of str
        Config paths of fields whose value is itself a list (``controller.law.milestones``).

    Returns
    -------
    list or None
        ``[value for run 0, ..., value for run R-1]``: ``value`` with every per-run list replaced by its
        entry (mappings copied as dicts).

    Raises
    ------
    ValueError
        Per-run lists of another length than ``num_runs``, or of lengths that differ, naming their paths.
    """
    lengths: dict[str, int] = {}
    _lengths(value, where, list_fields, lengths)
    if not lengths:
        return None
    if num_runs is not None and set(lengths.values()) != {num_runs}:
        bad = {path: n for path, n in lengths.items() if n != num_runs}
        raise ValueError(f"{', '.join(sorted(bad))}: a per-run list must hold num_runs={num_runs} values (one per "
                         f"run), got {', '.join(str(bad[path]) for path in sorted(bad))}")
    counts = set(lengths.values())
    if len(counts) > 1 or 0 in counts:
        raise ValueError(f"{', '.join(sorted(lengths))}: per-run lists must each hold one value per run, got "
                         f"lengths {[lengths[path] for path in sorted(lengths)]}")
    (runs,) = counts
    return [_pick(value, where, list_fields, run) for run in range(runs)]


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)


def _is_per_run(value: Any, path: str, list_fields: Collection[str]) -> bool:
    return _is_list(value) and (path not in list_fields or any(_is_list(v) for v in value))


def _lengths(value: Any, path: str, list_fields: Collection[str], lengths: dict[str, int]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _lengths(item, f"{path}.{key}", list_fields, lengths)
    elif _is_per_run(value, path, list_fields):
        lengths[path] = len(value)


def _pick(value: Any, path: str, list_fields: Collection[str], run: int) -> Any:
    if isinstance(value, Mapping):
        return {key: _pick(item, f"{path}.{key}", list_fields, run) for key, item in value.items()}
    return value[run] if _is_per_run(value, path, list_fields) else value
