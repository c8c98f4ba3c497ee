"""``picscribe status`` in plain SQL over the stdlib ``sqlite3`` module.

``status`` is typed to see what an index holds, and it should answer at
once. Importing SQLAlchemy, numpy and FAISS costs several times the queries
themselves, so the counts are read here with ``sqlite3`` alone. ``Store.status``
runs the same function on its own connection, so the two ways cannot drift
apart: there is one set of status queries.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

from ._migrations import SCHEMA_VERSION
from ._records import StoreStatus
from ._sqlite_files import DB_NAME, connect_read_only, has_wal_files, remove_wal_files

#: The vectors search holds: one per current caption, embedded by the index's embedder
#: (here, with no numpy, for status; the FAISS cache counts and rebuilds from it too).
SEARCHABLE_FROM = (
    " FROM current_captions AS cc JOIN embeddings AS e ON e.caption_id = cc.caption_id WHERE e.embedder = ?"
)


def searchable_count(conn: sqlite3.Connection, embedder: str) -> int:
    """How many vectors search holds: one per current caption embedded by ``embedder``."""
    (count,) = conn.execute("SELECT count(*)" + SEARCHABLE_FROM, (embedder,)).fetchone()
    return int(count)


def status_of(conn: sqlite3.Connection, home: Path | str, failure_limit: int = 50) -> StoreStatus:
    """What the index on ``conn`` holds; run inside one read transaction so the numbers agree with each other."""
    counts = dict(conn.execute("SELECT status, count(*) FROM images GROUP BY status").fetchall())
    failures = conn.execute(
        "SELECT path, error FROM images WHERE status = 'failed' ORDER BY path LIMIT ?", (failure_limit,)
    ).fetchall()
    by_model = conn.execute(
        "SELECT c.captioner, c.model_id, count(*) FROM current_captions AS cc"
        " JOIN captions AS c ON c.id = cc.caption_id"
        " GROUP BY c.captioner, c.model_id ORDER BY count(*) DESC, c.captioner, c.model_id"
    ).fetchall()
    (distinct_ok,) = conn.execute("SELECT count(DISTINCT content_hash) FROM images WHERE status = 'ok'").fetchone()
    stored = conn.execute(
        "SELECT captioner, model_id, count(DISTINCT content_hash) FROM captions"
        " GROUP BY captioner, model_id ORDER BY captioner, model_id"
    ).fetchall()
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    embedder = meta.get("embedder")
    searchable = searchable_count(conn, embedder or "")
    unreadable = json.loads(meta.get("unreadable_folders") or "[]")
    ok = counts.get("ok", 0)
    return StoreStatus(
        home=str(home),
        images=sum(counts.values()),
        ok=ok,
        failed=counts.get("failed", 0),
        searchable=int(searchable),
        failures=[(p, e or "") for p, e in failures],
        captions_by_model=[(n, m, int(c)) for n, m, c in by_model],
        active_captioner=meta.get("active_captioner"),
        active_model=meta.get("active_model"),
        embedder=embedder,
        generation=int(meta.get("generation") or 0),
        unreadable_folders=[(e["path"], e["error"]) for e in unreadable],
        copies=ok - int(distinct_ok),
        stored_models=[(n, m, int(c)) for n, m, c in stored],
    )


def quick_status(home: Path, failure_limit: int = 50) -> StoreStatus | None:
    """The status of the index at ``home`` read without SQLAlchemy; None when this
    way cannot answer (no index, or a schema that is not this version's: an older
    one is migrated and a newer one refused by ``Store.open``), so the caller opens
    the store as usual and gets its answer or its error."""
    db_path = home / DB_NAME
    if not db_path.is_file():
        return None
    # A read-only connection makes the -wal and -shm files of a database that had
    # none; Store does the same and removes them on close, and so does this.
    tidy_wal = not has_wal_files(db_path)
    try:
        conn = connect_read_only(db_path)
    except sqlite3.Error:
        return None
    try:
        with contextlib.closing(conn):
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version != SCHEMA_VERSION:
                return None
            conn.execute("BEGIN")  # one snapshot for every count
            try:
                return status_of(conn, home, failure_limit)
            finally:
                conn.rollback()
    except sqlite3.Error:
        return None
    finally:
        if tidy_wal:
            remove_wal_files(db_path)
