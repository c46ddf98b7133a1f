"""The glibc allocator setting of the entry points."""

from __future__ import annotations

import platform

import pytest

from entropic.allocator import retain_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt thresholds are a glibc feature")
def test_glibc_accepts_the_thresholds() -> None:
    assert retain_freed_memory() is True


def test_the_environment_can_leave_the_allocator_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTROPIC_RETAIN_MEMORY", "0")
    assert retain_freed_memory() is False
