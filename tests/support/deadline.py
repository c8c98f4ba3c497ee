"""Turn a hang into a test failure."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Raise TimeoutError in the main thread after ``seconds`` (a FIFO opened, a symlink loop walked forever)."""

    def boom(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"still running after {seconds}s")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
