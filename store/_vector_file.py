"""The FAISS cache file: when SQLite trusts it, and rebuilding and saving it,
in plain SQL over the stdlib ``sqlite3`` module. Shared by the Store's
``VectorCache`` and search's view (``_search_view``), which does not import
SQLAlchemy, so both load, check, rebuild and save the index the same way.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ._quick_status import SEARCHABLE_FROM, searchable_count
from ._search_reads import meta_value
from ._vector_index import CorruptIndexFile, IndexHeader, VectorIndex

log = logging.getLogger(__name__)

VECTORS_NAME = "vectors.faiss"
#: os.access by the effective uid where the platform can (as after seteuid).
_EFFECTIVE_IDS = os.access in os.supports_effective_ids

#: Rows a rebuild reads at a time (50k x 384 float32: 77 MB).
_PARTITION = 50_000


def build_from_sqlite(conn: sqlite3.Connection, embedder: str, dim: int) -> VectorIndex:
    """The index for the current vectors, its layout chosen by their count,
    streamed in caption-id order so that 1M vectors are never all in memory."""
    dim = dim or 1
    sql = "SELECT e.caption_id, e.vector" + SEARCHABLE_FROM + " ORDER BY e.caption_id"

    def chunks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        cursor = conn.execute(sql, (embedder,))
        while rows := cursor.fetchmany(_PARTITION):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
            yield ids, vecs

    return VectorIndex.build_streaming(dim, searchable_count(conn, embedder), chunks)


def load_trusted(
    path: Path, current: int, expected: int | None, embedder: str, *, mapped: bool
) -> tuple[VectorIndex | None, str]:
    """The index in the file at ``path`` if SQLite may trust it, else None and why.

    The generation is bumped in the transaction of every change to what search
    sees, and the file records the one it was built at, with a checksum of
    itself: a file at SQLite's ``current`` generation for the same ``embedder``
    holds the right set. ``expected``: the count SQLite has, checked as well
    when given (a writer's guard against a write path that forgot the bump).
    ``mapped``: read the vectors from the file, mapped (a reader that never changes it).
    """
    try:
        vi, header = VectorIndex.load(path, mapped=mapped)
    except FileNotFoundError:
        return None, "no vectors file"
    except CorruptIndexFile as exc:
        return None, str(exc)
    except OSError as exc:  # unreadable, a directory, ...: a cache, so rebuild it
        return None, f"cannot read {path}: {exc.strerror or exc}"
    if header.generation != current:
        return None, f"file is at generation {header.generation}, SQLite at {current}"
    if header.embedder != embedder:
        return None, f"file holds vectors of {header.embedder!r}, SQLite of {embedder!r}"
    if expected is not None and header.count != expected:
        return None, f"file has {header.count} vectors, SQLite {expected}"
    if vi.needs_rebuild():
        return None, f"a {header.spec.kind} index does not fit {header.count} vectors"
    return vi, ""


def load_or_rebuild(conn: sqlite3.Connection, path: Path, *, read_only: bool) -> tuple[VectorIndex, int]:
    """The FAISS index of what SQLite holds now (read in ``conn``'s transaction), and its generation.

    The file at ``path`` when SQLite trusts it (``load_trusted``), else rebuilt
    from SQLite and saved there. ``read_only``: a reader that never changes the
    index maps the file, and is trusted by generation without recounting; it
    still saves a rebuilt index where it can (see ``may_save``).
    """
    current = int(meta_value(conn, "generation") or 0)
    embedder = meta_value(conn, "embedder") or ""
    # A writer counts the vectors as well, a guard against a write path that forgot the generation
    # bump, at the cost of a join over every vector (1.5 s at 1M) that a cold search does not pay.
    expected = None if read_only else searchable_count(conn, embedder)
    loaded, reason = load_trusted(path, current, expected, embedder, mapped=read_only)
    if loaded is not None:
        return loaded, current
    log.info("rebuilding vector index from SQLite: %s", reason)
    rebuilt = build_from_sqlite(conn, embedder, int(meta_value(conn, "dim") or 0))
    if not read_only or may_save(path):
        _move_aside_unusable_file(path)
        save(rebuilt, path, current, embedder)
    return rebuilt, current


def may_save(path: Path) -> bool:
    """Whether a reader saves the FAISS cache at ``path``. A read-only store (or
    search view) still refreshes it where it can: it is derived data, replaced
    atomically, and a stale one would otherwise be rebuilt from SQLite by every search."""
    return os.access(path.parent, os.W_OK | os.X_OK, effective_ids=_EFFECTIVE_IDS)


def save(index: VectorIndex, path: Path, generation: int, embedder: str) -> bool:
    """Write ``index`` to ``path`` as of SQLite's ``generation``; False (and a warning) when it cannot."""
    header = IndexHeader(generation=generation, count=len(index), dim=index.dim, embedder=embedder, spec=index.spec)
    try:
        index.save(path, header)
    except OSError as exc:
        # The cache is optional: SQLite has everything. Say so and go on.
        log.warning("could not write %s (%s); it will be rebuilt next time", path, exc)
        return False
    return True


def _move_aside_unusable_file(path: Path) -> None:
    """A directory or FIFO (anything but a file or a link) where the cache
    belongs would make every save fail: rename it out of the way, keeping
    whatever it holds for the user to look at."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return
    if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
        return  # os.replace overwrites these
    aside = path.with_name(f"{path.name}.unusable-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        os.rename(path, aside)
    except OSError as exc:
        log.warning("%s is not a file and cannot be moved aside (%s)", path, exc.strerror or exc)
        return
    log.warning("%s was not a file; moved it to %s and rebuilt the index from SQLite", path, aside)
