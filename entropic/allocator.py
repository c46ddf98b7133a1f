"""Keep freed tensor memory inside the process (glibc), so CPU steps reuse it instead of page-faulting.

glibc serves every allocation above its mmap threshold (128 KiB at start) with a fresh ``mmap``
and returns it to the kernel on free, and trims the top of the heap as soon as 128 KiB lie free
there. A simulator step makes dozens of short-lived tensors of a few MiB, so every one of them
comes back from the kernel zero-filled page by page: on a 2-core machine that doubled the time of
an elementwise op over 512k floats (2.5 ms vs 5.5 ms for five ops, ``benchmarks/bandit.py`` gains
about a sixth). Raising both thresholds keeps the buffers in the heap for the next step.

This changes the allocator of the whole process, so only entry points call it (the console
scripts and the benchmarks), never library code; ``ENTROPIC_RETAIN_MEMORY=0`` leaves glibc alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
"""glibc ``mallopt`` parameter: free bytes at the heap top before they go back to the kernel."""
M_MMAP_THRESHOLD = -3
"""glibc ``mallopt`` parameter: allocations at least this large get their own ``mmap``."""
MMAP_THRESHOLD = 32 << 20
"""32 MiB, glibc's largest allowed value on 64-bit systems."""
TRIM_THRESHOLD = 1 << 30
"""1 GiB."""


def retain_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds; ``True`` if applied (``False`` off glibc or when disabled)."""
    if os.environ.get("ENTROPIC_RETAIN_MEMORY", "1") == "0":
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        libc = None
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    applied = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    log.debug("glibc mmap/trim thresholds %s", "raised" if applied else "unchanged")
    return applied
