"""The watcher: a watchdog observer feeding a debounced queue, and a loop that
hands what settles to the same Indexer that ``picscribe index`` uses.

One thread writes to the index: the loop below. watchdog's threads only
queue. Every batch is one or more SQLite transactions, so stopping between
them, or being killed inside one, loses nothing that was committed; what was
still queued is found again by the reconciliation scan the next start runs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..pipeline import Indexer, IndexReport
from ..progress import Progress
from ..scan import ScanResult, scan
from ._events import EventSink, OverflowListener
from ._ignore import DEFAULT_IGNORE, IgnorePatterns
from ._interrupt import StopAwareCaptioner
from ._queue import Batch, ChangeQueue
from ._state import StateFile, WatchLock, now_iso

log = logging.getLogger(__name__)

#: Longest sleep between checks that nothing (stop, state file) is overdue.
_MAX_SLEEP = 0.5


@dataclass(frozen=True)
class WatchOptions:
    #: Seconds a file must go without events, its size and mtime unchanged,
    #: before it is read.
    debounce: float = 1.0
    #: Seconds between full reconciliation scans; 0 scans only at start.
    reconcile_every: float = 600.0
    ignore: tuple[str, ...] = DEFAULT_IGNORE
    #: Queued paths beyond which the queue is dropped for a reconciliation scan.
    max_pending: int = 50_000
    #: Paths handed to the Indexer at once; a stop waits for at most one batch.
    max_batch: int = 256
    #: The FAISS cache is written when the queue runs dry, or at least this often.
    flush_every: float = 30.0
    #: Seconds between state-file writes while the queue length changes.
    state_every: float = 1.0


@dataclass
class BatchReport:
    """What one step of the watcher did; ``to_dict()`` is a JSONL line of ``watch --json``."""

    kind: Literal["events", "reconcile"]
    report: IndexReport
    moved: int = 0
    queue_length: int = 0

    def to_dict(self) -> dict[str, Any]:
        r = self.report
        return {
            "kind": self.kind,
            "at": now_iso(),
            "moved": self.moved,
            "captioned": r.captioned,
            "reused": r.reused,
            "removed": r.removed,
            "unchanged": r.unchanged,
            "failed": r.failed,
            "stopped": r.stopped,
            "seconds": round(r.seconds, 3),
            "queue_length": self.queue_length,
            "failures": [{"path": p, "error": e} for p, e in r.failures],
        }

    @property
    def changed_anything(self) -> bool:
        r = self.report
        return bool(self.moved or r.captioned or r.reused or r.removed or r.failed or r.stopped)


class Watcher:
    """Keeps the index in step with ``roots`` until ``stop()``.

    ``run()`` blocks; call ``stop()`` from a signal handler or another thread.
    """

    def __init__(
        self,
        indexer: Indexer,
        roots: Sequence[Path | str],
        options: WatchOptions = WatchOptions(),
        *,
        on_batch: Callable[[BatchReport], None] | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.options = options
        self.roots = [os.path.abspath(r) for r in roots]
        self._stopping = threading.Event()
        self._store = indexer.store
        self._indexer = Indexer(
            indexer.store, StopAwareCaptioner(indexer.captioner, self._stopping), indexer.embedder, indexer.options
        )
        self._ignore = IgnorePatterns(options.ignore, self.roots)
        self._queue = ChangeQueue(debounce=options.debounce, max_pending=options.max_pending)
        self._state = StateFile(self._store.home)
        self._on_batch = on_batch
        #: Follows each step's indexing run (a reconciliation scan can be long).
        self._progress = progress
        self._next_reconcile = 0.0
        self._last_flush = time.monotonic()
        self._last_state_write = 0.0
        self._last_event_at: str | None = None
        self._failures_in_a_row = 0

    # -- public ------------------------------------------------------------

    def run(self) -> None:
        """Take the index's watch lock, watch, and return once stopped.

        Raises WatcherBusy if another watcher holds the index.
        """
        with WatchLock(self._store.home):
            self._state.start(self.roots)
            overflow = OverflowListener(self._queue)
            overflow.install()
            try:
                observer = self._start_observer()
            except BaseException as exc:
                overflow.uninstall()
                self._record_error(f"cannot watch: {type(exc).__name__}: {exc}")
                raise
            try:
                # After the observer starts, so that nothing changed during the
                # scan slips between the two.
                self._queue.request_reconcile()
                while not self._stopping.is_set():
                    self._step_safely()
            finally:
                observer.stop()
                overflow.uninstall()
                observer.join(timeout=10)
                self._store.flush()
                self._state.values.update(queue_length=0, stopped_at=now_iso())
                self._state.save()

    def stop(self) -> None:
        """Finish the batch in flight (at most one model batch more) and return from run()."""
        self._stopping.set()
        self._queue.wake()

    @property
    def queue_length(self) -> int:
        return len(self._queue)

    # -- the loop ------------------------------------------------------------

    def _start_observer(self) -> Any:
        from watchdog.observers import Observer

        # watchdog 7 warns when a folder moved inside a watched tree re-adds a
        # watch it already had, and overwrites it, which is what we want. Said
        # on its own thread, the warning reaches stderr as noise (or, where
        # warnings are errors, kills that thread and every later event).
        warnings.filterwarnings(
            "ignore", message=r"Callback with id .* already exists", category=RuntimeWarning, module=r"watchdog\."
        )
        observer = Observer()
        sink = EventSink(self._queue, self._ignore, self._saw_event)
        for root in self.roots:
            observer.schedule(sink, root, recursive=True)  # type: ignore[arg-type]
        observer.daemon = True
        observer.start()
        return observer

    def _saw_event(self) -> None:
        self._last_event_at = now_iso()

    def _step_safely(self) -> None:
        try:
            self._step()
            self._failures_in_a_row = 0
        except Exception as exc:
            # Runs for days: a full disk or a locked database must not end it.
            # Whatever the failed step held is found again by a scan.
            self._failures_in_a_row += 1
            log.warning("watcher step failed: %s", exc, exc_info=log.isEnabledFor(logging.DEBUG))
            self._record_error(f"{type(exc).__name__}: {exc}")
            self._queue.request_reconcile()
            self._sleep(min(60.0, 2.0**self._failures_in_a_row))

    def _step(self) -> None:
        now = time.monotonic()
        if self._queue.take_reconcile_request() or (self.options.reconcile_every and now >= self._next_reconcile):
            self._reconcile()
            return
        batch = self._queue.take_ready(self.options.max_batch)
        for folder in batch.folders:
            self._queue_files_in(folder)
        if batch.moves or batch.paths:
            self._apply(batch)
            return
        self._flush_if_due(idle=not len(self._queue))
        self._save_state_if_due()
        if not batch:
            self._sleep(self._time_to_next_work())

    def _apply(self, batch: Batch) -> None:
        moved = self._store.move_paths(batch.moves) if batch.moves else 0
        for _old, new in batch.moves:
            if os.path.isdir(new):
                self._queue_unindexed_in(new)
        if batch.paths:
            report = self._indexer.update(batch.paths, accept=self._ignore.accepts, progress=self._progress)
        else:
            report = IndexReport(self._indexer.captioner.name, self._indexer.captioner.model_id)
        self._finish(BatchReport("events", report, moved, len(self._queue)))

    def _reconcile(self) -> None:
        if self.options.reconcile_every:
            self._next_reconcile = time.monotonic() + self.options.reconcile_every
        report = self._indexer.index(self.roots, scanner=self._scan, progress=self._progress)
        self._state.values["last_reconcile_at"] = now_iso()
        self._last_flush = time.monotonic()  # index() writes the FAISS cache itself
        self._finish(BatchReport("reconcile", report, 0, len(self._queue)))

    def _finish(self, done: BatchReport) -> None:
        r = done.report
        values = self._state.values
        values["batches"] += 1
        values["last_batch_at"] = now_iso()
        totals = values["totals"]
        for key, n in (
            ("captioned", r.captioned),
            ("reused", r.reused),
            ("removed", r.removed),
            ("moved", done.moved),
            ("failed", r.failed),
        ):
            totals[key] += n
        if r.stopped is not None and not self._stopping.is_set():
            self._record_error(f"captioner stopped: {r.stopped}")
        elif r.failures:
            path, error = r.failures[-1]
            self._record_error(
                f"{path}: {error}" + (f" (and {len(r.failures) - 1} more)" if len(r.failures) > 1 else "")
            )
        self._flush_if_due(idle=not len(self._queue))
        self._save_state_if_due(force=True)
        if self._on_batch is not None:
            self._on_batch(done)

    # -- helpers -------------------------------------------------------------

    def _scan(self, roots: Iterable[Path | str], known_paths: set[str] | frozenset[str] = frozenset()) -> ScanResult:
        """scan(), minus ignored files; a root that is missing (an unmounted
        drive) keeps its rows instead of losing them all."""
        roots = list(roots)
        present = [r for r in roots if os.path.exists(r)]
        result = scan(present, known_paths=known_paths)
        result.files = [e for e in result.files if self._ignore.accepts(e.path)]
        result.errors = [(p, e) for p, e in result.errors if self._ignore.accepts(p)]
        for root in roots:
            if root not in present:
                result.unreadable_dirs.append(os.path.abspath(root))
                result.errors.append((os.path.abspath(root), "folder is missing; its images stay in the index"))
        return result

    def _queue_files_in(self, folder: str) -> None:
        """A folder appeared (created, or moved in from outside): its files
        settle like any other, so a folder still being copied is not read early."""
        for parent, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if self._ignore.accepts(os.path.join(parent, d))]
            for name in filenames:
                path = os.path.join(parent, name)
                if self._ignore.accepts(path):
                    self._queue.changed(path)

    def _queue_unindexed_in(self, folder: str) -> None:
        """A folder was renamed: its indexed rows moved with it, but files
        whose read was under way when it went (failed as "disappeared", a row
        the move drops) or not yet started (taken from the queue under the old
        name) have no row at the new path. Queue those; the rest are
        unchanged and cost nothing."""
        indexed = {p for p, state in self._store.file_states_at([], folders=[folder]).items() if state.status == "ok"}
        for parent, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if self._ignore.accepts(os.path.join(parent, d))]
            for name in filenames:
                path = os.path.join(parent, name)
                if path not in indexed and self._ignore.accepts(path):
                    self._queue.changed(path)

    def _record_error(self, message: str) -> None:
        self._state.values.update(last_error=message, last_error_at=now_iso())
        self._save_state_if_due(force=True)

    def _flush_if_due(self, *, idle: bool) -> None:
        # Writing FAISS costs the whole index; during a burst, not after every batch.
        if idle or time.monotonic() - self._last_flush >= self.options.flush_every:
            self._store.flush()
            self._last_flush = time.monotonic()

    def _save_state_if_due(self, *, force: bool = False) -> None:
        now = time.monotonic()
        values = self._state.values
        length = len(self._queue)
        changed = values.get("queue_length") != length or values.get("last_event_at") != self._last_event_at
        if force or (changed and now - self._last_state_write >= self.options.state_every):
            values.update(queue_length=length, last_event_at=self._last_event_at)
            self._state.save()
            self._last_state_write = now

    def _time_to_next_work(self) -> float:
        now = time.monotonic()
        waits = [_MAX_SLEEP]
        due = self._queue.next_due()
        if due is not None:
            waits.append(due - now)
        if self.options.reconcile_every:
            waits.append(self._next_reconcile - now)
        return max(0.0, min(waits))

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set() and (left := deadline - time.monotonic()) > 0:
            self._queue.wait(min(left, _MAX_SLEEP))
