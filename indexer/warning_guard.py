"""Silence Pillow's warnings about a file's metadata, without racing other threads.

``warnings.catch_warnings`` swaps process-global state and is not thread-safe
(before Python 3.14's context-aware warnings): two threads entering it at once
can leave a filter installed for good, or restore one the other removed.
Every place that reads metadata on a pool thread (decode workers, UI script
threads) takes this one lock, and holds it only around short metadata reads,
never around inflating pixels.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()


@contextmanager
def ignoring_warnings(*categories: type[Warning]) -> Iterator[None]:
    with _lock, warnings.catch_warnings():
        for category in categories:
            warnings.simplefilter("ignore", category)
        yield
