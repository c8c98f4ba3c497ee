"""Run as an unprivileged user where file permissions must apply (root ignores them)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

#: The uid and gid tests drop to.
NOBODY = 65534


@contextmanager
def unprivileged() -> Iterator[None]:
    """Root reads and writes anything whatever the mode bits: run as nobody for the duration."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)
