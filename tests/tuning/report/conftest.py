"""Fixtures: a study, design, laws and transfer report directory each (:mod:`report_dirs`), under ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_dirs import write_design, write_laws, write_study, write_transfer


@pytest.fixture
def study_dir(tmp_path: Path) -> Path:
    return write_study(tmp_path)


@pytest.fixture
def design_dir(tmp_path: Path) -> Path:
    return write_design(tmp_path)


@pytest.fixture
def laws_dir(tmp_path: Path) -> Path:
    return write_laws(tmp_path)


@pytest.fixture
def transfer_dir(tmp_path: Path) -> Path:
    return write_transfer(tmp_path)
