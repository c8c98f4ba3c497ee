"""Opening the index file read-only with the stdlib ``sqlite3``, and leaving
the home as a reader found it. Shared by the SQLAlchemy engine (``_db``),
``status``'s quick read (``_quick_status``) and search's view (``_search_view``),
which do not import SQLAlchemy."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import urllib.parse
from pathlib import Path

log = logging.getLogger(__name__)

#: The file name of the index database in its home.
DB_NAME = "index.sqlite"


def configure(conn: sqlite3.Connection) -> None:
    """The settings every connection to an index gets, SQLAlchemy's (``_db.make_engine``)
    and the search view's (``_search_view``) alike.

    Transactions are begun explicitly (``BEGIN DEFERRED`` to read, ``BEGIN
    IMMEDIATE`` to write, so that writers take the write lock up front and
    never fail half-way through with "database is locked").
    """
    conn.isolation_level = None
    cur = conn.cursor()
    # NORMAL is durable against process crashes in WAL mode; only an OS
    # crash or power loss can drop the last transactions.
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA busy_timeout = 30000")
    # 64 MB page cache (default 2 MB): at 1M images the path, hash and
    # FTS indexes no longer fit the default, and bulk inserts and
    # filtered searches then re-read the same pages from disk.
    cur.execute("PRAGMA cache_size = -65536")
    cur.execute("PRAGMA temp_store = MEMORY")
    cur.close()


def connect_read_only(db_path: Path) -> sqlite3.Connection:
    """``db_path`` opened read-only (SQLite ``mode=ro``).

    A WAL database needs its -shm file to be read. When there is none and
    none can be made (a read-only home) the database was closed cleanly, with
    everything checkpointed into the main file and no WAL left, so it is
    opened ``immutable`` instead: no -shm and no locks. A WAL file without a
    -shm means a writer died mid-way; that is refused rather than misread.
    """
    uri = "file:" + urllib.parse.quote(str(db_path)) + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        wal = Path(f"{db_path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise
    return sqlite3.connect(uri + "&immutable=1", uri=True, check_same_thread=False)


def has_wal_files(db_path: Path) -> bool:
    """Whether the -wal or -shm file of ``db_path`` exists (a reader that finds none should leave none)."""
    return any(Path(f"{db_path}{suffix}").exists() for suffix in ("-wal", "-shm"))


def remove_wal_files(db_path: Path) -> None:
    """Leave the home as a reader found it: let SQLite remove the -wal and
    -shm files a read-only connection made. SQLite does that when the last
    connection closes, and only then, so a writer that is still open keeps
    them; the WAL is empty unless such a writer committed meanwhile, so this
    writes nothing of the reader's own."""
    try:
        with contextlib.closing(sqlite3.connect(db_path)) as conn:
            conn.execute("PRAGMA user_version").fetchone()
    except sqlite3.Error as exc:
        log.debug("could not tidy the WAL files of %s: %s", db_path, exc)
