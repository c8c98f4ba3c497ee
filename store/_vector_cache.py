"""Keeping the FAISS cache in step with SQLite.

Every write bumps a generation counter in SQLite. The in-memory FAISS index
follows each committed change (``apply``) and is written to disk with the
generation it reflects; on open, a file whose generation, count or checksum
disagrees with SQLite is rebuilt from the vectors in SQLite. The file
itself, and the SQL that counts and rebuilds it, are in ``_vector_file``,
shared with search's view.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._db import Database, driver, generation, get_meta
from ._vector_file import load_or_rebuild, save
from ._vector_index import VectorIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delta:
    """What one committed transaction changed in the searchable vectors."""

    generation_before: int
    removed: np.ndarray
    added: dict[int, np.ndarray]


class VectorCache:
    """The FAISS index of one store: loaded or rebuilt on first use, then kept in step.

    ``lock`` is the store's: a writer holds it from its commit until its
    change is applied here, so changes arrive in generation order.
    """

    def __init__(self, db: Database, path: Path, lock: threading.RLock) -> None:
        self._db = db
        self._path = path
        self._lock = lock
        self._index: VectorIndex | None = None
        self._generation: int | None = None
        self._dirty = False

    def index(self) -> VectorIndex:
        """The FAISS index, checked against SQLite and rebuilt if it disagrees."""
        with self._lock:
            with self._db.read() as conn:
                if self._index is not None and self._generation == generation(conn):
                    return self._index
                loaded, current = load_or_rebuild(driver(conn), self._path, read_only=self._db.read_only)
            self._index, self._generation, self._dirty = loaded, current, False
            return loaded

    def apply(self, delta: Delta | None) -> None:
        """Make the in-memory FAISS follow a transaction that has committed."""
        if delta is None:
            return
        with self._lock:
            if self._index is None:
                return
            if self._generation != delta.generation_before:
                # Another process wrote in between; our copy is stale.
                self._index = None
                return
            self._index.remove(delta.removed)
            if delta.added:
                ids = np.fromiter(delta.added.keys(), dtype=np.int64, count=len(delta.added))
                self._index.add(ids, np.stack(list(delta.added.values())))
            self._generation = delta.generation_before + 1
            self._dirty = True
            if self._index.needs_rebuild():
                # The collection crossed a layout boundary (see IndexSpec):
                # the next index() rebuilds it from SQLite, once.
                log.info("vector index outgrew its %s layout at %d vectors", self._index.spec.kind, len(self._index))
                self._index = None

    def flush(self) -> None:
        """Write the FAISS cache to disk if it changed since it was loaded."""
        with self._lock:
            if self._index is None or not self._dirty or self._generation is None:
                return
            with self._db.read() as conn:
                if generation(conn) != self._generation:
                    self._index = None  # someone else wrote; rebuild on next use
                    return
                embedder = get_meta(conn, "embedder") or ""
            self._save(self._generation, embedder)

    def _save(self, current: int, embedder: str) -> None:
        assert self._index is not None
        if save(self._index, self._path, current, embedder):
            self._dirty = False
