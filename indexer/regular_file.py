"""Open a path for reading only if it is a regular file, without ever blocking.

A scan sees a regular file, but by the time a worker reads it the name may
point at a FIFO (``open`` would wait for a writer forever) or a device
(``/dev/zero`` never ends). Opening with ``O_NONBLOCK`` returns at once for
all of them, and ``fstat`` on the descriptor judges what was opened, not what
the name pointed at a moment earlier.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

_KINDS = (
    (stat.S_ISDIR, "directory"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


class NotRegularFileError(OSError):
    """The path names something other than a regular file; str() says what, for humans."""


def file_kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "regular file" if stat.S_ISREG(mode) else "special file"


def open_regular_file(path: str | os.PathLike[str]) -> tuple[BinaryIO, os.stat_result]:
    """The open file and its ``fstat``; raises NotRegularFileError ("not a regular file (FIFO)")
    for anything else, and OSError as ``open`` would for the rest."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(f"not a regular file ({file_kind(st.st_mode)})")
        # O_NONBLOCK means nothing for a regular file's reads, so it can stay set.
        f = os.fdopen(fd, "rb")
        f.raw.name = os.fspath(path)  # type: ignore[attr-defined]  # as open() names it, not by its fd
    except BaseException:
        os.close(fd)
        raise
    return f, st
