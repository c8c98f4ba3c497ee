"""The watcher's work queue: what changed, coalesced by path, handed out only
once it has stopped changing.

A file is ready when it has had no event for ``debounce`` seconds and its
size and mtime are what they were at its last event: a file still being
copied keeps changing, so it is not read half-written. Renames are handed
out at once, because they only re-point rows and read nothing. The queue is
bounded: past ``max_pending`` entries it forgets everything and asks for a
reconciliation scan instead, which finds the same changes from the disk.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: (file type, size, mtime_ns) of a path, or None when nothing is there.
_Signature = tuple[int, int, int] | None

#: A vanished path is forgotten this many debounce periods after it went,
#: later than a new file is read: content moved where inotify cannot pair the
#: two halves of the move (into a folder made a moment before, or between two
#: roots) is then still in the index when it turns up at its new path, and
#: keeps its captions instead of being captioned again.
_GONE_DELAY = 3

#: A folder move covers the per-file moves watchdog reports for its contents
#: for this long; later moves are judged on their own.
_FOLDER_MOVE_COVERS_SECONDS = 10.0


def _signature(path: str) -> _Signature:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns)


def _is_dir(sig: _Signature) -> bool:
    return sig is not None and sig[0] == stat.S_IFDIR


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")


@dataclass
class Batch:
    #: (old, new) renames of files or folders, in the order they happened.
    moves: list[tuple[str, str]] = field(default_factory=list)
    #: Files that stopped changing, and paths now gone (files or folders).
    paths: list[str] = field(default_factory=list)
    #: Folders that appeared: list them and queue their files.
    folders: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.moves or self.paths or self.folders)


@dataclass
class _Entry:
    due: float
    seen: _Signature
    version: int


class ChangeQueue:
    """Thread-safe: watchdog's thread puts, the watcher's loop takes."""

    def __init__(
        self, *, debounce: float, max_pending: int = 50_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.debounce = debounce
        self.max_pending = max_pending
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: dict[str, _Entry] = {}
        self._moves: list[tuple[str, str]] = []
        self._recent_folder_moves: list[tuple[str, str, float]] = []
        self._versions = 0
        self._reconcile_requested = False
        self._woken = False
        #: How many times the queue overflowed and was dropped.
        self.overflows = 0

    def __len__(self) -> int:
        with self._cond:
            return len(self._pending) + len(self._moves)

    # -- producers (watchdog's thread) -------------------------------------

    def changed(self, path: str) -> None:
        """Something at ``path`` was created, written, or deleted."""
        sig = _signature(path)  # outside the lock: a stat can be slow on a network share
        with self._cond:
            self._put(path, sig)

    def moved(self, src: str, dest: str, *, is_dir: bool) -> None:
        now = self._clock()
        with self._cond:
            self._recent_folder_moves = [
                m for m in self._recent_folder_moves if now - m[2] < _FOLDER_MOVE_COVERS_SECONDS
            ]
            if any(_inside(src, a) and dest == b + src[len(a) :] for a, b, _ in self._recent_folder_moves):
                return  # watchdog's per-file echo of a folder move already queued
            if not self._room_for(1):
                return
            self._moves.append((src, dest))
            if is_dir:
                self._recent_folder_moves.append((src, dest, now))
                # Files still settling inside the folder settle at their new paths.
                for path in [p for p in self._pending if _inside(p, src)]:
                    self._pending[dest + path[len(src) :]] = self._pending.pop(path)
            self._wake()
        # The source is gone (anything left at it goes); a renamed file is
        # checked at its new path in case it changed on the way.
        self.changed(src)
        if not is_dir:
            self.changed(dest)

    def request_reconcile(self) -> None:
        with self._cond:
            self._reconcile_requested = True
            self._wake()

    # -- the consumer --------------------------------------------------------

    def take_reconcile_request(self) -> bool:
        with self._cond:
            requested, self._reconcile_requested = self._reconcile_requested, False
            return requested

    def take_ready(self, limit: int) -> Batch:
        """Moves at once; up to ``limit`` paths that have stopped changing."""
        now = self._clock()
        with self._cond:
            batch = Batch(moves=self._moves)
            self._moves = []
            due = [(p, e.version, e.seen) for p, e in self._pending.items() if e.due <= now]
        for path, version, seen in due:
            if len(batch.paths) >= limit:
                break
            sig = _signature(path)
            with self._cond:
                entry = self._pending.get(path)
                if entry is None or entry.version != version:
                    continue  # a newer event came meanwhile; its own due time stands
                if _is_dir(sig):
                    del self._pending[path]
                    batch.folders.append(path)
                elif sig == seen:
                    del self._pending[path]
                    batch.paths.append(path)
                else:  # changed since its last event without telling us: wait again
                    entry.seen, entry.due = sig, now + self._delay(sig)
        return batch

    def next_due(self) -> float | None:
        """When the earliest entry may be ready (clock time); None when empty."""
        with self._cond:
            if self._moves or self._reconcile_requested:
                return self._clock()
            return min((e.due for e in self._pending.values()), default=None)

    def wait(self, timeout: float) -> None:
        """Sleep until ``timeout`` passes or work arrives in an empty queue."""
        with self._cond:
            if not self._woken:
                self._cond.wait(max(0.0, timeout))
            self._woken = False

    def wake(self) -> None:
        with self._cond:
            self._wake()

    # -- inside the lock -----------------------------------------------------

    def _put(self, path: str, sig: _Signature) -> None:
        entry = self._pending.get(path)
        if entry is None and not self._room_for(1):
            return
        was_empty = not self._pending
        self._versions += 1
        self._pending[path] = _Entry(self._clock() + self._delay(sig), sig, self._versions)
        if was_empty:
            # Only an empty queue needs the consumer woken: otherwise it is
            # already asleep until an earlier due time. Waking it for each of
            # thousands of events would cost more than the events.
            self._wake()

    def _delay(self, sig: _Signature) -> float:
        return self.debounce * (_GONE_DELAY if sig is None else 1)

    def _room_for(self, n: int) -> bool:
        if len(self._pending) + len(self._moves) + n <= self.max_pending:
            return True
        self._pending.clear()
        self._moves.clear()
        self.overflows += 1
        self._reconcile_requested = True
        self._wake()
        return False

    def _wake(self) -> None:
        self._woken = True
        self._cond.notify_all()
