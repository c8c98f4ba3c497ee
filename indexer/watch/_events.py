"""Turn watchdog's events into queue entries, and notice when it lost some."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from ._ignore import IgnorePatterns
from ._queue import ChangeQueue

#: watchdog (inotify) rebuilds its watches after the kernel's event queue
#: overflows, but says so only in its log; the watcher listens there.
_OVERFLOW_LOGGERS = ("watchdog.observers.inotify_c", "watchdog.observers.inotify")


class EventSink:
    """The handler watchdog dispatches to, on watchdog's thread.

    It only stats and queues: anything slow here would back up the kernel's
    event queue until it overflows.
    """

    def __init__(self, queue: ChangeQueue, ignore: IgnorePatterns, on_event: Callable[[], None]) -> None:
        self._queue = queue
        self._ignore = ignore
        self._on_event = on_event

    def dispatch(self, event: object) -> None:
        kind = getattr(event, "event_type", "")
        is_dir = bool(getattr(event, "is_directory", False))
        src = os.fsdecode(getattr(event, "src_path", ""))
        if kind == "moved":
            dest = os.fsdecode(getattr(event, "dest_path", ""))
            self._moved(src, dest, is_dir)
        elif kind in ("created", "deleted", "closed") or (kind in ("modified", "attrib") and not is_dir):
            # A folder's own modified/attrib events only echo changes to its
            # files, which have events of their own.
            if src and self._ignore.accepts(src):
                self._queue.changed(src)
        else:
            return  # opened, closed without writing, folder metadata
        self._on_event()

    def _moved(self, src: str, dest: str, is_dir: bool) -> None:
        keep_src = bool(src) and self._ignore.accepts(src)
        keep_dest = bool(dest) and self._ignore.accepts(dest)
        if keep_src and keep_dest:
            self._queue.moved(src, dest, is_dir=is_dir)
        elif keep_dest:
            self._queue.changed(dest)  # photo.jpg.part -> photo.jpg: a download just finished
        elif keep_src:
            self._queue.changed(src)  # renamed to an ignored name: gone as far as the index goes


class OverflowListener(logging.Handler):
    """Asks for a reconciliation scan when watchdog reports lost events."""

    def __init__(self, queue: ChangeQueue) -> None:
        super().__init__(level=logging.WARNING)
        self._queue = queue

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self._queue.request_reconcile()

    def install(self) -> None:
        for name in _OVERFLOW_LOGGERS:
            logging.getLogger(name).addHandler(self)

    def uninstall(self) -> None:
        for name in _OVERFLOW_LOGGERS:
            logging.getLogger(name).removeHandler(self)
