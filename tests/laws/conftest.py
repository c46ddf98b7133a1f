"""Run the laws tests on one torch thread: their tensors are small, and extra threads only contend."""

from __future__ import annotations

import pytest
from helpers import single_thread

one_thread = pytest.fixture(autouse=True)(single_thread)
