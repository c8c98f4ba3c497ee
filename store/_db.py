"""The SQLite side of the store: the engine and its pragmas, read and write
transactions, meta values and the embedder binding.

SQL here is SQLAlchemy Core: a handful of one-row statements, where
readability matters more than the driver's per-row overhead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from . import _schema as t
from ._chunks import chunks
from ._errors import StoreError, StoreFull
from ._migrations import SCHEMA_VERSION
from ._search_reads import meta_value
from ._sqlite_files import DB_NAME, configure, connect_read_only

__all__ = [
    "DB_NAME",
    "Database",
    "StoreError",
    "StoreFull",
    "chunks",
    "driver",
    "generation",
    "get_meta",
    "make_engine",
    "set_meta",
]


def _is_disk_full(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlite_errorname", None) == "SQLITE_FULL"


def _read_only_connector(db_path: Path) -> Callable[[], sqlite3.Connection]:
    """A DB-API connect function that opens ``db_path`` read-only (see ``connect_read_only``)."""
    return lambda: connect_read_only(db_path)


def make_engine(db_path: Path, *, read_only: bool = False) -> Engine:
    if read_only:
        # The URL still names the file, so SQLAlchemy pools as for any file database.
        engine = create_engine(f"sqlite:///{db_path}", creator=_read_only_connector(db_path))
    else:
        engine = create_engine(f"sqlite:///{db_path}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # A database from a newer picscribe is refused by migrate(); leave it
        # exactly as it is, and switching its journal mode would be a write.
        (version,) = dbapi_conn.execute("PRAGMA user_version").fetchone()
        if version <= SCHEMA_VERSION and not read_only:
            dbapi_conn.execute("PRAGMA journal_mode = WAL")
        # Transaction control goes to the "begin" event below.
        configure(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def driver(conn: Connection) -> sqlite3.Connection:
    """The stdlib connection under ``conn``, in ``conn``'s transaction: what the
    SQL shared with search's view (``_search_reads``, ``_vector_file``) runs on."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


def get_meta(conn: Connection, key: str) -> str | None:
    return meta_value(driver(conn), key)


def set_meta(conn: Connection, key: str, value: str) -> None:
    stmt = sqlite_insert(t.meta).values(key=key, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))


def generation(conn: Connection) -> int:
    """The count of committed changes to what search sees; the FAISS cache records the one it follows."""
    return int(get_meta(conn, "generation") or 0)


class Database:
    """One index's engine, handing out transactions."""

    def __init__(self, home: Path, engine: Engine, *, read_only: bool = False) -> None:
        self.home = home
        self.engine = engine
        self.read_only = read_only

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        if self.read_only:
            raise StoreError(f"{self.home}: the index was opened read-only")
        try:
            with self.engine.connect().execution_options(write=True) as conn, conn.begin():
                yield conn
        except OperationalError as exc:
            # SQLite rolled the transaction back: what was committed before
            # stands, and an incremental run picks up where this one stopped.
            if _is_disk_full(exc):
                raise StoreFull(
                    f"{self.home}: the disk is full (SQLite: {exc.orig}); nothing committed was lost. "
                    "Free some space and run the same command again to continue."
                ) from exc
            raise

    def meta(self, key: str) -> str | None:
        with self.read() as conn:
            return get_meta(conn, key)

    def active_captioner(self) -> tuple[str, str] | None:
        with self.read() as conn:
            name = get_meta(conn, "active_captioner")
            model = get_meta(conn, "active_model")
        return (name, model or "") if name else None

    def bind_embedder(self, name: str, dim: int) -> None:
        """Record which embedder this index uses; refuse a different one.

        Mixing vectors from two embedding models would make similarities
        meaningless, so the first write fixes the model for the index.
        """
        with self.write() as conn:
            if get_meta(conn, "embedder") is None:
                set_meta(conn, "embedder", name)
                set_meta(conn, "dim", str(dim))
        self.check_embedder(name)

    def check_embedder(self, name: str) -> None:
        """Raise StoreError if the index is bound to another embedder (cheap: no model load)."""
        have = self.meta("embedder")
        if have is not None and have != name:
            raise StoreError(
                f"this index was built with embedder {have!r}, not {name!r}; set "
                f"PICSCRIBE_EMBEDDER={have} (or embedder in config.toml), run `picscribe reembed` "
                f"to move the index to {name!r}, or use a new --home"
            )
