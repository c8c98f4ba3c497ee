"""Keeping the FAISS cache in step with SQLite.

Every write bumps a generation counter in SQLite. The in-memory FAISS index
follows each committed change (``apply``) and is written to disk with the
generation it reflects; on open, a file whose generation, count or checksum
disagrees with SQLite is rebuilt from the vectors in SQLite. SQL here is
SQLAlchemy Core (the rebuild streams rows in 50k partitions).
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Connection, func, select

from . import _schema as t
from ._db import Database, generation, get_meta
from ._vector_index import CorruptIndexFile, IndexHeader, VectorIndex

log = logging.getLogger(__name__)

VECTORS_NAME = "vectors.faiss"
#: os.access by the effective uid where the platform can (as after seteuid).
_EFFECTIVE_IDS = os.access in os.supports_effective_ids


@dataclass(frozen=True)
class Delta:
    """What one committed transaction changed in the searchable vectors."""

    generation_before: int
    removed: np.ndarray
    added: dict[int, np.ndarray]


def searchable_count(conn: Connection, embedder: str) -> int:
    """How many vectors search holds: one per current caption embedded by ``embedder``."""
    q = (
        select(func.count())
        .select_from(
            t.current_captions.join(t.embeddings, t.embeddings.c.caption_id == t.current_captions.c.caption_id)
        )
        .where(t.embeddings.c.embedder == embedder)
    )
    return int(conn.execute(q).scalar_one())


def _build_from_sqlite(conn: Connection, embedder: str, dim: int) -> VectorIndex:
    """The index for the current vectors, its layout chosen by their count,
    streamed in caption-id order so that 1M vectors are never all in memory."""
    dim = dim or 1
    q = (
        select(t.embeddings.c.caption_id, t.embeddings.c.vector)
        .select_from(
            t.current_captions.join(t.embeddings, t.embeddings.c.caption_id == t.current_captions.c.caption_id)
        )
        .where(t.embeddings.c.embedder == embedder)
        .order_by(t.embeddings.c.caption_id)
    )

    def chunks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for rows in conn.execute(q).partitions(50_000):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
            yield ids, vecs

    return VectorIndex.build_streaming(dim, searchable_count(conn, embedder), chunks)


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
                current = generation(conn)
                embedder = get_meta(conn, "embedder") or ""
                dim = int(get_meta(conn, "dim") or 0)
                if self._index is not None and self._generation == current:
                    return self._index
                # The generation is bumped in the transaction of every change to what search sees, and
                # the file records the one it was built at, with a checksum of itself: a reader whose
                # generation matches has the right set. A writer counts as well, a guard against a write
                # path that forgot the bump, at the cost of a join over every vector (1.5 s at 1M) that a
                # cold search (a read-only store) does not pay.
                expected = None if self._db.read_only else searchable_count(conn, embedder)
                loaded, reason = self._load_file(current, expected, embedder)
                if loaded is None:
                    log.info("rebuilding vector index from SQLite: %s", reason)
                    loaded = _build_from_sqlite(conn, embedder, dim)
                    self._index, self._generation = loaded, current
                    if self._may_write():
                        self._move_aside_unusable_file()
                        self._save(current, embedder)
                else:
                    self._index, self._generation = loaded, current
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

    def _load_file(self, current: int, expected: int | None, embedder: str) -> tuple[VectorIndex | None, str]:
        try:
            # A read-only store never changes its index: it may read the vectors from the file, mapped.
            vi, header = VectorIndex.load(self._path, mapped=self._db.read_only)
        except FileNotFoundError:
            return None, "no vectors file"
        except CorruptIndexFile as exc:
            return None, str(exc)
        except OSError as exc:  # unreadable, a directory, ...: a cache, so rebuild it
            return None, f"cannot read {self._path}: {exc.strerror or exc}"
        if header.generation != current:
            return None, f"file is at generation {header.generation}, SQLite at {current}"
        if header.embedder != embedder:
            return None, f"file holds vectors of {header.embedder!r}, SQLite of {embedder!r}"
        if expected is not None and header.count != expected:
            return None, f"file has {header.count} vectors, SQLite {expected}"
        if vi.needs_rebuild():
            return None, f"a {header.spec.kind} index does not fit {header.count} vectors"
        return vi, ""

    def _may_write(self) -> bool:
        """Whether to write the FAISS cache. A read-only store still refreshes
        it where it can: it is derived data, replaced atomically, and a stale
        one would otherwise be rebuilt from SQLite by every search."""
        home = self._path.parent
        return not self._db.read_only or os.access(home, os.W_OK | os.X_OK, effective_ids=_EFFECTIVE_IDS)

    def _move_aside_unusable_file(self) -> None:
        """A directory or FIFO (anything but a file or a link) where the cache
        belongs would make every save fail: rename it out of the way, keeping
        whatever it holds for the user to look at."""
        try:
            mode = os.lstat(self._path).st_mode
        except OSError:
            return
        if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
            return  # os.replace overwrites these
        aside = self._path.with_name(f"{self._path.name}.unusable-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.rename(self._path, aside)
        except OSError as exc:
            log.warning("%s is not a file and cannot be moved aside (%s)", self._path, exc.strerror or exc)
            return
        log.warning("%s was not a file; moved it to %s and rebuilt the index from SQLite", self._path, aside)

    def _save(self, current: int, embedder: str) -> None:
        assert self._index is not None
        header = IndexHeader(
            generation=current, count=len(self._index), dim=self._index.dim, embedder=embedder, spec=self._index.spec
        )
        try:
            self._index.save(self._path, header)
        except OSError as exc:
            # The cache is optional: SQLite has everything. Say so and go on.
            log.warning("could not write %s (%s); it will be rebuilt next time", self._path, exc)
            return
        self._dirty = False
