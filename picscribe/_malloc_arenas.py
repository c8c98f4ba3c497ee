"""Fewer glibc malloc arenas for the long, many-threaded jobs (index, watch).

glibc gives threads that allocate at once arenas of their own, up to eight
per core, and an arena keeps the memory freed into it. Indexing runs model
threads, decode threads and ONNX Runtime buffers of several MB side by side,
so every arena ends up holding its own copy of the largest buffers. Capped at
one arena per core, `picscribe index --captioner offline` on the 52 photos of
``bench.offline_stages`` peaked at 1.61 and 1.69 GB instead of 2.67 and 2.66
GB, and ran a little faster (1.67 and 1.76 img/s against 1.56 and 1.66; less
time in the kernel), in runs taken in turn on 2 cores at load 1.1 to 2.2
(``MALLOC_ARENA_MAX=16``, glibc's default there, for "without").

A ``MALLOC_ARENA_MAX`` set by the user wins; other C libraries are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

#: mallopt's parameter number for the arena cap (glibc's malloc.h: M_ARENA_MAX).
_M_ARENA_MAX = -8


def cap_malloc_arenas() -> bool:
    """One malloc arena per usable core (at least 2), before the job starts its
    threads; True if glibc took the setting."""
    if platform.system() != "Linux" or "MALLOC_ARENA_MAX" in os.environ:
        return False
    libc_name = ctypes.util.find_library("c")
    if libc_name is None or platform.libc_ver()[0] != "glibc":
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        mallopt = ctypes.CDLL(libc_name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, max(2, cores)))
