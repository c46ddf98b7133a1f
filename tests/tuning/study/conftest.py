"""Shared fixtures of the study tests (tiny study configs, one torch thread, a PostgreSQL server)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig
from tune_helpers import compose_tune

POSTGRES_SH = Path(__file__).resolve().parents[2] / "postgres.sh"


@pytest.fixture
def tune_cfg() -> Callable[..., DictConfig]:
    """``tune_cfg(*overrides, config_name=...)``: a tiny study config (:data:`tune_helpers.TINY` first)."""
    return lambda *overrides, config_name="tune/default": compose_tune(list(overrides), config_name)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread: small simulations run fastest, and steadiest under load (the study tests use it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server (``tests/postgres.sh``) on a free loopback port, stopped afterwards.

    Skipped, with the reason, where psycopg or the server binaries are missing.
    """
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: pip install 'psycopg[binary]' (the dev extra has it)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    directory = tempfile.mkdtemp(prefix="entropic-pg-")
    started = subprocess.run(["bash", str(POSTGRES_SH), "start", directory, str(port)], capture_output=True,
                             text=True, timeout=120)
    if started.returncode == 3:
        shutil.rmtree(directory, ignore_errors=True)
        pytest.skip(started.stderr.strip())
    if started.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"tests/postgres.sh start failed: {started.stderr or started.stdout}")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(POSTGRES_SH), "stop", directory], capture_output=True, timeout=120)
        shutil.rmtree(directory, ignore_errors=True)
