"""Long jobs cap glibc's malloc arenas at one per core: a process that starts
more allocating threads than that ends up with no more arenas (glibc's own
malloc_info report), and without the cap it does. Each case runs in a fresh
process, since the setting is process-wide."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from picscribe._malloc_arenas import cap_malloc_arenas

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only"
)

#: Caps (or not, argv[1]), then starts cores + 4 threads that each hold a
#: malloc'd block until all have one, and prints how many heaps malloc_info lists.
_PROBE = """
import ctypes, ctypes.util, os, sys, threading
from picscribe._malloc_arenas import cap_malloc_arenas
if sys.argv[1] == "cap":
    assert cap_malloc_arenas()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.fopen.restype, libc.fopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes, libc.fclose.argtypes = [ctypes.c_int, ctypes.c_void_p], [ctypes.c_void_p]
cores = len(os.sched_getaffinity(0))
threads = max(2, cores) + 4
all_hold = threading.Barrier(threads + 1)
def hold():
    block = libc.malloc(64 * 1024)
    all_hold.wait()
    all_hold.wait()
    libc.free(block)
workers = [threading.Thread(target=hold) for _ in range(threads)]
for w in workers:
    w.start()
all_hold.wait()
report = libc.fopen(sys.argv[2].encode(), b"w")
libc.malloc_info(0, report)
libc.fclose(report)
all_hold.wait()
for w in workers:
    w.join()
print(open(sys.argv[2]).read().count("<heap nr="), max(2, cores))
"""


def _heaps(tmp_path: Path, mode: str, env: dict[str, str]) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode, str(tmp_path / f"{mode}.xml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    heaps, cap = done.stdout.split()
    return int(heaps), int(cap)


def test_capped_threads_share_one_arena_per_core_and_uncapped_ones_do_not(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    heaps, cap = _heaps(tmp_path, "cap", env)
    assert heaps <= cap
    heaps, cap = _heaps(tmp_path, "default", env)
    assert heaps > cap  # the control: the probe does make more arenas when nothing caps them


def test_a_users_malloc_arena_max_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert cap_malloc_arenas() is False
