"""``SearchView``: an index opened for searching only, with the stdlib ``sqlite3``.

A cold ``picscribe search`` spent a third of its time importing SQLAlchemy
(0.2 to 0.3 s of about 1 s at 10k images) to run a dozen small queries. The
view runs the Store's own search SQL (``_search_reads``, ``_filter_sql``, the
keyword index) on a read-only stdlib connection, set up as the Store's
(``_sqlite_files.configure``), one ``BEGIN DEFERRED`` read transaction per
call as the Store's, and maps the FAISS cache as a read-only Store does.

It serves an index only when it can serve it exactly as the Store would:
``open`` returns None when the schema is not this version's (migrations are
the Store's) or SQLite cannot be read this way, and the caller then opens the
Store. A FAISS file that is missing, stale, for another embedder or unreadable
is handled by the Store's own code (``_vector_file.load_or_rebuild``): rebuilt
from SQLite and saved where the home is writable. Every ``picscribe index``
leaves the file behind SQLite (the indexer never loads the index), so the
first search after it rebuilds, and stays off SQLAlchemy all the same.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from . import _search_reads as reads
from ._keyword import search_text_index
from ._migrations import SCHEMA_VERSION
from ._records import NO_FILTERS, HitRow, SearchFilters
from ._sqlite_files import DB_NAME, configure, connect_read_only, has_wal_files, remove_wal_files
from ._vector_file import VECTORS_NAME, load_or_rebuild
from ._vector_index import VectorIndex

log = logging.getLogger(__name__)


class SearchView:
    """What search reads (``SearchSource``), from an index opened read-only without SQLAlchemy.

    Open with ``SearchView.open(home)``; close with ``close()`` or a ``with`` block.
    Thread-safe: calls take turns on the one connection.
    """

    #: Never writes SQLite; like a read-only Store, it refreshes a stale FAISS cache where the home allows.
    read_only = True

    def __init__(self, home: Path, conn: sqlite3.Connection, index: VectorIndex, generation: int) -> None:
        self.home = home
        self._conn = conn
        self._lock = threading.RLock()
        self._index = index
        self._generation = generation
        self._keywords = search_text_index()
        self._tidy_wal_on_close = False

    @classmethod
    def open(cls, home: Path | str) -> SearchView | None:
        """The index at ``home`` opened for search; None when this way cannot serve it as
        the Store would (no index, another schema version, SQLite not readable this way)."""
        home = Path(home).expanduser().absolute()
        db_path = home / DB_NAME
        if not db_path.is_file():
            return None
        # A read-only connection makes the -wal and -shm files of a database that had
        # none; the Store removes them on close, and so does this.
        tidy_wal = not has_wal_files(db_path)
        view: SearchView | None = None
        try:
            conn = connect_read_only(db_path)
        except sqlite3.Error:
            return None
        try:
            configure(conn)
            view = cls._checked(home, conn)
        except sqlite3.Error as exc:
            log.debug("search view of %s: %s", home, exc)
        finally:
            if view is None:
                conn.close()
                if tidy_wal:
                    remove_wal_files(db_path)
        if view is not None:
            view._tidy_wal_on_close = tidy_wal
        return view

    @classmethod
    def _checked(cls, home: Path, conn: sqlite3.Connection) -> SearchView | None:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version != SCHEMA_VERSION:
            return None  # migrate() decides: an older one is migrated, a newer one refused
        with _read(conn):
            # As a read-only Store: trusted by generation, embedder and checksum, not recounted.
            index, current = load_or_rebuild(conn, home / VECTORS_NAME, read_only=True)
        return cls(home, conn, index, current)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._keywords.close()
        if self._tidy_wal_on_close:
            remove_wal_files(self.home / DB_NAME)

    def __enter__(self) -> SearchView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _read(self._conn):
            yield self._conn

    # -- meta ------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        with self._read() as conn:
            return reads.meta_value(conn, key)

    @property
    def embedder_name(self) -> str | None:
        return self.meta("embedder")

    # -- the FAISS cache -------------------------------------------------------

    def vector_index(self) -> VectorIndex:
        """The FAISS index, checked against SQLite and rebuilt if it disagrees, as the
        Store's: followed when another process has written since it was loaded."""
        with self._read() as conn:
            if int(reads.meta_value(conn, "generation") or 0) == self._generation:
                return self._index
            self._index, self._generation = load_or_rebuild(conn, self.home / VECTORS_NAME, read_only=True)
            return self._index

    # -- reads for search (_search_reads, _keyword) ------------------------------

    def allowed_caption_ids(self, filters: SearchFilters) -> np.ndarray:
        with self._read() as conn:
            return reads.allowed_caption_ids(conn, filters)

    def filter_caption_ids(self, filters: SearchFilters, caption_ids: Sequence[int]) -> set[int]:
        with self._read() as conn:
            return reads.filter_caption_ids(conn, filters, caption_ids)

    def keyword_candidates(self, words: Sequence[str], depth: int, allowed: np.ndarray | None = None) -> list[int]:
        allowed_json = None if allowed is None else "[" + ",".join(map(str, allowed.tolist())) + "]"
        with self._read() as conn:
            generation = int(reads.meta_value(conn, "generation") or 0)
            return self._keywords.discover(conn, words, depth, generation, allowed_json)

    def keyword_scores(self, words: Sequence[str], caption_ids: Iterable[int]) -> dict[int, float]:
        with self._read() as conn:
            generation = int(reads.meta_value(conn, "generation") or 0)
            return self._keywords.bm25(conn, words, caption_ids, generation)

    def hit_rows(self, caption_ids: Sequence[int], filters: SearchFilters = NO_FILTERS) -> dict[int, list[HitRow]]:
        with self._read() as conn:
            return reads.hit_rows(conn, caption_ids, filters)

    def current_caption_id_for_path(self, path: str) -> int | None:
        with self._read() as conn:
            return reads.current_caption_id_for_path(conn, path)

    def picture_hashes(self, content_hashes: Iterable[str] | None = None) -> dict[str, bytes]:
        with self._read() as conn:
            return reads.picture_hashes(conn, content_hashes)

    def object_labels(self) -> list[tuple[str, int]]:
        with self._read() as conn:
            return reads.object_labels(conn)


@contextlib.contextmanager
def _read(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction, as the Store's (``_db.make_engine``'s "begin" event)."""
    conn.execute("BEGIN DEFERRED")
    try:
        yield
    finally:
        conn.rollback()
