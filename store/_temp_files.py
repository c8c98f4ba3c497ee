"""Temp files of an atomic save, named so that one left by a killed save can
be told from one still being written.

A save writes ``NAME.PID.RANDOM.tmp`` next to ``NAME`` and renames it into
place; a kill -9 in between leaves the temp file behind, as large as the
index. ``remove_stale_temp_files`` clears those on the next open.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from pathlib import Path

#: A temp file this much older than now is abandoned whoever wrote it: a save
#: writes continuously and takes seconds even at a million vectors.
STALE_TEMP_SECONDS = 3600.0


def make_temp_file(path: Path) -> tuple[int, str]:
    """A new temp file beside ``path`` (mode 0600): its fd and name.

    The writer's pid in the name lets a later open tell a temp file being
    written from one left by a killed save."""
    return tempfile.mkstemp(prefix=f"{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)


def remove_stale_temp_files(path: Path, *, now: float | None = None) -> list[Path]:
    """Delete temp files of ``path`` left by saves that were killed; returns those deleted.

    A temp file is stale when the pid in its name is not a live process on
    this machine, or when it is over an hour old (a name without a pid, from
    an older picscribe, or a pid that was reused). An age limit alone would
    leave each kill's file (as large as the index) for an hour; a pid check
    alone would keep a file forever once its pid is reused. A live writer's
    file is young and its pid alive, so it is left alone; should a writer
    in another pid namespace lose its file, its save fails with an OSError,
    which the store reports as "rebuilt next time", and nothing is lost.
    """
    now = time.time() if now is None else now
    removed = []
    for tmp in path.parent.glob(f"{path.name}.*.tmp"):
        pid_part = tmp.name[len(path.name) + 1 :].split(".", 1)[0]
        try:
            st = tmp.lstat()
        except OSError:
            continue  # renamed into place or removed meanwhile
        if not stat.S_ISREG(st.st_mode):
            continue
        old = now - st.st_mtime > STALE_TEMP_SECONDS
        if old or (pid_part.isdigit() and not _pid_alive(int(pid_part))):
            try:
                tmp.unlink()
            except OSError:
                continue
            removed.append(tmp)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True
