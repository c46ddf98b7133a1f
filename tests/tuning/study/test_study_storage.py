"""A study database that cannot be opened fails at once, naming tune.storage, without retrying."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from entropic.tuning.study import storage


def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    sleeps: list[float] = []
    monkeypatch.setattr(storage.time, "sleep", sleeps.append)
    return sleeps


def test_a_corrupt_sqlite_file_is_refused_without_retries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps = _no_sleep(monkeypatch)
    path = tmp_path / "study.db"
    path.write_bytes(b"this is not a database, it only looks like one" * 100)
    with pytest.raises(ValueError, match=r"tune.storage=sqlite:///.*study.db: cannot open the study database "
                                         r"\(DatabaseError: file is not a database\)"):
        storage.make_storage(f"sqlite:///{path}")
    assert sleeps == []


def test_an_unreachable_server_is_a_short_error_without_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps = _no_sleep(monkeypatch)
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"tune.storage=postgresql\+psycopg://entropic@127.0.0.1:1/study: cannot "
                                         r"open the study database \(OperationalError: ") as error:
        storage.make_storage("postgresql+psycopg://entropic@127.0.0.1:1/study")
    assert sleeps == [] and error.value.__cause__ is None and time.monotonic() - started < 10
    assert len(str(error.value).splitlines()) == 1
