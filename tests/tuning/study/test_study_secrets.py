"""A database password never reaches the command line, a config, a log or a written file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from entropic.tuning.study.config import TuneConfig
from entropic.tuning.study.storage import check_no_password, masked

SECRET = "s3cr3t-pw"


def test_masked_hides_the_password_and_keeps_the_rest() -> None:
    assert masked(f"postgresql+psycopg://tuner:{SECRET}@db:5432/optuna") == \
        "postgresql+psycopg://tuner:***@db:5432/optuna"
    assert masked("sqlite:////tmp/study.db") == "sqlite:////tmp/study.db"


def test_a_password_in_the_config_is_refused_naming_the_field_not_the_secret() -> None:
    with pytest.raises(ValueError, match=r"tune.storage holds a password.*PGPASSWORD or ~/.pgpass") as info:
        TuneConfig(storage=f"postgresql+psycopg://tuner:{SECRET}@127.0.0.1:5432/optuna")
    assert SECRET not in str(info.value)
    check_no_password("postgresql+psycopg://tuner@127.0.0.1:5432/optuna")  # libpq finds the password itself


def test_a_password_on_the_command_line_is_refused_before_hydra_writes_anything(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-c", "from entropic.tuning.study.cli import main; main()",
         f"tune.storage=postgresql+psycopg://tuner:{SECRET}@127.0.0.1:9/optuna", f"hydra.run.dir={run_dir}"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "tune.storage holds a password" in result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert not run_dir.exists()


def test_a_database_other_than_sqlite_or_postgresql_is_refused_before_any_work() -> None:
    with pytest.raises(ValueError, match=r"tune.storage: 'mysql' databases are not supported; allowed: sqlite"):
        TuneConfig(storage="mysql://x")
