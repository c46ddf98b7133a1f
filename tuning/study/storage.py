"""Where a study lives: a SQLite file in the output directory, or a shared database.

A ``postgresql+psycopg://`` URL lets many workers on many machines share one study (each runs
``entropic-tune`` with the same study name); SQLite serves several workers on one machine.

A storage URL never holds a password: Hydra writes every override and config to disk and prints
them on failure, so ``tune.storage`` with a password is refused (:func:`check_no_password`) and
libpq takes it from its own sources, ``PGPASSWORD`` or ``~/.pgpass``. Every URL entropic shows or
writes goes through :func:`masked`.
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy.exc
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)


def check_no_password(url: str, field: str = "tune.storage") -> None:
    """Raise ``ValueError`` (naming ``field``, never the password) when ``url`` holds a password or
    names a database other than SQLite and PostgreSQL."""
    try:
        password = make_url(url).password
    except sqlalchemy.exc.ArgumentError as error:
        raise ValueError(f"{field} is not a database URL (e.g. sqlite:///study.db, "
                         f"postgresql+psycopg://user@host:5432/db): {type(error).__name__}") from None
    dialect = make_url(url).get_backend_name()
    if dialect not in ("sqlite", "postgresql"):
        raise ValueError(f"{field}: {dialect!r} databases are not supported; allowed: sqlite:///<file> (one "
                         f"machine) or postgresql+psycopg://user@host:5432/db (many)")
    if password is not None:
        raise ValueError(f"{field} holds a password, which Hydra would write to disk and print; give the URL "
                         f"without it (postgresql+psycopg://user@host:5432/db) and let libpq read it from "
                         f"PGPASSWORD or ~/.pgpass")


def masked(url: str) -> str:
    """``url`` as it may be shown or written: any password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return "<not a database URL>"


def storage_url(storage: str | None, output_dir: str | Path) -> str:
    """The storage URL: ``storage``, or a SQLite file ``study.db`` in ``output_dir``."""
    if storage:
        return storage
    return f"sqlite:///{(Path(output_dir) / 'study.db').resolve()}"


def make_storage(url: str, attempts: int = 8) -> optuna.storages.RDBStorage:
    """An RDB storage for ``url`` (SQLite waits up to a minute for a lock held by another worker).

    Workers that start together on an empty database race to create Optuna's tables; the losers
    see a unique-constraint error, wait a moment and connect to the tables the winner made. Any other
    failure (a file that is not a database, a server that refuses or does not answer within 10 s) is
    not transient: it raises ``ValueError`` at once, naming ``tune.storage`` with the password masked.
    """
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    if url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": 60}}
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except sqlalchemy.exc.IntegrityError:
            if attempt == attempts - 1:
                raise
            log.info("another worker is creating the study tables; retrying")
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.3)
        except sqlalchemy.exc.SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            raise ValueError(f"tune.storage={masked(url)}: cannot open the study database "
                             f"({type(error).__name__}: {reason})") from None
    raise AssertionError("unreachable")
