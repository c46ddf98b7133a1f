"""Refuse a problem too large for this machine's memory before allocating it, with the numbers."""

from __future__ import annotations

import os

GIB = 1 << 30


def available_bytes() -> int | None:
    """Memory the system can give a new allocation now (Linux ``MemAvailable``), else the physical total;
    ``None`` when neither can be read."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(estimate: int, what: str, advice: str) -> None:
    """Raise ``ValueError`` when ``estimate`` bytes exceed the available memory, saying both, what needs them
    (``what``: the fields and their values) and how to shrink it (``advice``)."""
    available = available_bytes()
    if available is not None and estimate > available:
        raise ValueError(f"{what} needs about {estimate / GIB:.1f} GiB, more than the {available / GIB:.1f} GiB "
                         f"of memory available; {advice}")
