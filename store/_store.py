"""The index: SQLite (source of truth) plus the FAISS cache derived from it.

Every write happens in one SQLite transaction that also bumps a generation
counter. The in-memory FAISS index follows along after each commit and is
written to disk with that generation; on open, a file whose generation,
count or checksum disagrees with SQLite is rebuilt from the vectors in
SQLite. A kill -9 at any point therefore loses nothing that was committed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import stat
import threading
import time
import urllib.parse
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import Connection, Engine, Text, create_engine, event, func, literal, literal_column, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError

from . import _roots
from . import _schema as t
from ._keyword import KeywordIndex
from ._migrations import SCHEMA_VERSION, WHEN_SQL, migrate
from ._records import (
    CaptionRecord,
    FailureRecord,
    FileState,
    HitRow,
    ImageDetail,
    ImageRecord,
    SearchFilters,
    StoredCaption,
    StoreStatus,
)
from ._vector_index import CorruptIndexFile, IndexHeader, VectorIndex, remove_stale_temp_files

log = logging.getLogger(__name__)

DB_NAME = "index.sqlite"
VECTORS_NAME = "vectors.faiss"
# Only the short caption is what search ranks by; other tasks (detailed,
# alt text) are stored but not indexed.
SEARCH_TASK = "caption"
#: os.access by the effective uid where the platform can (as after seteuid).
_EFFECTIVE_IDS = os.access in os.supports_effective_ids
#: Meta key: JSON list of {"path", "error"} for folders the last scans could not list.
_UNREADABLE_FOLDERS = "unreadable_folders"
# SQLite caps bound parameters per statement; stay well below it.
_CHUNK = 500


@dataclass(frozen=True)
class _Delta:
    """What one committed transaction changed in the searchable vectors."""

    generation_before: int
    removed: np.ndarray
    added: dict[int, np.ndarray]


class StoreError(RuntimeError):
    """A problem with the index itself (not with one image)."""


class StoreFull(StoreError):
    """The disk (or the database's size limit) is full; the transaction was rolled back."""


def _is_disk_full(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlite_errorname", None) == "SQLITE_FULL"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


#: Image columns in the order _UPSERT_IMAGE binds them.
_IMAGE_COLUMNS = (
    "path",
    "content_hash",
    "size",
    "mtime_ns",
    "width",
    "height",
    "format",
    "taken_at",
    "status",
    "error",
    "indexed_at",
    "failure_key",
)
_UPSERT_IMAGE = (
    f"INSERT INTO images ({', '.join(_IMAGE_COLUMNS)}) VALUES ({', '.join('?' * len(_IMAGE_COLUMNS))})"
    " ON CONFLICT (path) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in _IMAGE_COLUMNS if c != "path")
)
_UPSERT_CAPTION = (
    "INSERT INTO captions (content_hash, captioner, model_id, task, text, ocr_text, human, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (content_hash, captioner, model_id, task) DO UPDATE SET"
    " text = excluded.text, ocr_text = excluded.ocr_text, human = excluded.human, created_at = excluded.created_at"
)


#: ``x IN {_EACH}`` with one JSON array bound: any number of values in one
#: statement, with no per-value parameter to build (see _json).
_EACH = "(SELECT value FROM json_each(?))"


def _json(values: Iterable[object]) -> str:
    return json.dumps(list(values))


def _fetch(conn: Connection, sql: str, *params: object) -> list[tuple]:
    """All rows of a raw statement, as plain tuples."""
    return conn.exec_driver_sql(sql, params).cursor.fetchall()


def _executemany(conn: Connection, sql: str, rows: list[tuple]) -> None:
    """One prepared statement run over many rows, straight through the
    driver: SQLAlchemy's per-row parameter processing cost more than
    SQLite's insert itself (bulk writes at 1M images)."""
    if rows:
        conn.exec_driver_sql(sql, rows)


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _read_only_connector(db_path: Path):  # type: ignore[no-untyped-def]
    """A DB-API connect function that opens ``db_path`` read-only (SQLite ``mode=ro``).

    A WAL database needs its -shm file to be read. When there is none and
    none can be made (a read-only home) the database was closed cleanly, with
    everything checkpointed into the main file and no WAL left, so it is
    opened ``immutable`` instead: no -shm and no locks. A WAL file without a
    -shm means a writer died mid-way; that is refused rather than misread.
    """
    uri = "file:" + urllib.parse.quote(str(db_path)) + "?mode=ro"

    def connect() -> sqlite3.Connection:
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

    return connect


def _remove_wal_files(db_path: Path) -> None:
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


def _make_engine(db_path: Path, *, read_only: bool = False) -> Engine:
    if read_only:
        # The URL still names the file, so SQLAlchemy pools as for any file database.
        engine = create_engine(f"sqlite:///{db_path}", creator=_read_only_connector(db_path))
    else:
        engine = create_engine(f"sqlite:///{db_path}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        # Hand transaction control to SQLAlchemy's "begin" event below, so
        # that writers can take the write lock up front (BEGIN IMMEDIATE) and
        # never fail half-way through with "database is locked".
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # A database from a newer picscribe is refused by migrate(); leave it
        # exactly as it is, and switching its journal mode would be a write.
        (version,) = cur.execute("PRAGMA user_version").fetchone()
        if version <= SCHEMA_VERSION and not read_only:
            cur.execute("PRAGMA journal_mode = WAL")
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

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


class Store:
    """Open with ``Store.open(home)``; close with ``close()`` or a ``with`` block."""

    def __init__(self, home: Path, engine: Engine, *, read_only: bool = False) -> None:
        self.home = home
        self._engine = engine
        #: Opened for reading only (``Store.open(read_only=True)``): SQLite is never written.
        self.read_only = read_only
        self._tidy_wal_on_close = False
        self._vectors_path = home / VECTORS_NAME
        self._lock = threading.RLock()
        self._vindex: VectorIndex | None = None
        self._vindex_generation: int | None = None
        self._vindex_dirty = False
        self._keywords = KeywordIndex("search_text", ("caption", "tags", "ocr", "objects"), "porter unicode61")

    # -- lifecycle ---------------------------------------------------------

    @classmethod
    def open(cls, home: Path | str, *, create: bool = True, read_only: bool = False) -> Store:
        """Open (or, with ``create``, make) the index at ``home``.

        ``read_only``: for commands that only read (status, search). No write
        transaction is taken, so they work on a read-only home and never wait
        for a writer's lock. Only an index from an older picscribe, which
        needs migrating first, is opened for writing after all.
        """
        home = Path(home).expanduser().absolute()
        db_path = home / DB_NAME
        if home.exists() and not home.is_dir():
            raise StoreError(f"{home}: is not a directory")
        if read_only and db_path.exists():
            store = cls._open_read_only(home, db_path)
            if store is not None:
                return store
        if not db_path.exists():
            if not create:
                raise StoreError(f"no index at {home}; run `picscribe index PATH` first")
            try:
                home.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{home}: cannot create index directory: {exc.strerror or exc}") from exc
        engine = _make_engine(db_path)
        try:
            with engine.connect().execution_options(write=True) as conn, conn.begin():
                migrate(conn)
        except Exception as exc:
            engine.dispose()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"{db_path}: cannot open index: {exc}") from exc
        remove_stale_temp_files(home / VECTORS_NAME)
        return cls(home, engine)

    @classmethod
    def _open_read_only(cls, home: Path, db_path: Path) -> Store | None:
        """The index opened read-only; None if its schema is not this version's (migrate() decides)."""
        # A read-only connection makes the -wal and -shm files of a database
        # that had none, and cannot remove them when it closes.
        tidy_wal = not any(Path(f"{db_path}{s}").exists() for s in ("-wal", "-shm"))
        engine = _make_engine(db_path, read_only=True)
        try:
            with engine.connect() as conn:
                version = int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())
        except Exception as exc:
            engine.dispose()
            raise StoreError(f"{db_path}: cannot open index: {exc}") from exc
        if version != SCHEMA_VERSION:
            engine.dispose()
            if tidy_wal:
                _remove_wal_files(db_path)
            return None
        store = cls(home, engine, read_only=True)
        store._tidy_wal_on_close = tidy_wal
        return store

    def close(self) -> None:
        self.flush()
        self._engine.dispose()
        self._keywords.close()
        if self._tidy_wal_on_close:
            _remove_wal_files(self.home / DB_NAME)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        if self.read_only:
            raise StoreError(f"{self.home}: the index was opened read-only")
        try:
            with self._engine.connect().execution_options(write=True) as conn, conn.begin():
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

    # -- meta --------------------------------------------------------------

    @staticmethod
    def _get_meta(conn: Connection, key: str) -> str | None:
        return conn.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar_one_or_none()

    @staticmethod
    def _set_meta(conn: Connection, key: str, value: str) -> None:
        stmt = sqlite_insert(t.meta).values(key=key, value=value)
        conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))

    def _generation(self, conn: Connection) -> int:
        return int(self._get_meta(conn, "generation") or 0)

    def meta(self, key: str) -> str | None:
        with self._read() as conn:
            return self._get_meta(conn, key)

    @property
    def embedder_name(self) -> str | None:
        return self.meta("embedder")

    def active_captioner(self) -> tuple[str, str] | None:
        with self._read() as conn:
            name = self._get_meta(conn, "active_captioner")
            model = self._get_meta(conn, "active_model")
        return (name, model or "") if name else None

    def bind_embedder(self, name: str, dim: int) -> None:
        """Record which embedder this index uses; refuse a different one.

        Mixing vectors from two embedding models would make similarities
        meaningless, so the first write fixes the model for the index.
        """
        with self._write() as conn:
            have = self._get_meta(conn, "embedder")
            if have is None:
                self._set_meta(conn, "embedder", name)
                self._set_meta(conn, "dim", str(dim))
        self.check_embedder(name)

    def check_embedder(self, name: str) -> None:
        """Raise StoreError if the index is bound to another embedder (cheap: no model load)."""
        have = self.embedder_name
        if have is not None and have != name:
            raise StoreError(
                f"this index was built with embedder {have!r}, not {name!r}; set "
                f"PICSCRIBE_EMBEDDER={have} (or embedder in config.toml), or use a new --home"
            )

    # -- incremental indexing support --------------------------------------

    def file_states(self, roots: Iterable[str]) -> dict[str, FileState]:
        """Known files under any of ``roots`` (absolute directories or files)."""
        out: dict[str, FileState] = {}
        with self._read() as conn:
            for root in roots:
                for row in conn.execute(select(*_FILE_STATE_COLUMNS).where(_under(t.images.c.path, root))):
                    out[row[0]] = FileState(*row[1:])
        return out

    def hashes_with_caption(self, captioner: str, model_id: str) -> set[str]:
        with self._read() as conn:
            rows = conn.execute(
                select(t.captions.c.content_hash).where(
                    t.captions.c.captioner == captioner,
                    t.captions.c.model_id == model_id,
                    t.captions.c.task == SEARCH_TASK,
                )
            )
            return {r[0] for r in rows}

    def hashes_with_current_caption(self) -> set[str]:
        with self._read() as conn:
            return {r[0] for r in conn.execute(select(t.current_captions.c.content_hash))}

    def image_info_by_hash(self, hashes: Iterable[str]) -> dict[str, tuple[int, int, str, str | None]]:
        """(width, height, format, taken_at) for known content, so a moved or
        duplicated file is recorded without decoding it again."""
        hashes = list(hashes)
        out: dict[str, tuple[int, int, str, str | None]] = {}
        cols = (t.images.c.content_hash, t.images.c.width, t.images.c.height, t.images.c.format, t.images.c.taken_at)
        with self._read() as conn:
            for chunk in _chunks(hashes):
                q = select(*cols).where(t.images.c.content_hash.in_(chunk), t.images.c.status == "ok")
                for h, w, hh, fmt, taken in conn.execute(q):
                    out[h] = (w, hh, fmt, taken)
        return out

    def ok_paths_of(self, hashes: Iterable[str]) -> dict[str, list[str]]:
        """Every path indexed ok with each of ``hashes``."""
        out: dict[str, list[str]] = {}
        sql = f"SELECT content_hash, path FROM images WHERE content_hash IN {_EACH} AND status = 'ok' ORDER BY path"
        with self._read() as conn:
            for h, path in _fetch(conn, sql, _json(sorted(set(hashes)))):
                out.setdefault(h, []).append(path)
        return out

    def paths_by_hash(self) -> dict[str, str]:
        """One indexed path for each distinct content, for re-captioning."""
        with self._read() as conn:
            q = (
                select(t.images.c.content_hash, func.min(t.images.c.path))
                .where(t.images.c.status == "ok")
                .group_by(t.images.c.content_hash)
            )
            return {h: p for h, p in conn.execute(q)}

    def ok_hashes(self) -> set[str]:
        with self._read() as conn:
            q = select(t.images.c.content_hash).where(t.images.c.status == "ok").distinct()
            return {r[0] for r in conn.execute(q)}

    # -- writes ------------------------------------------------------------

    def write_batch(
        self,
        images: Sequence[ImageRecord] = (),
        captions: Sequence[CaptionRecord] = (),
        failures: Sequence[FailureRecord] = (),
        remove: Sequence[str] = (),
    ) -> int:
        """Record one batch in a single transaction: all of it or none of it.

        ``remove`` are paths to forget in that same transaction: the old path
        of content written here at its new path, so that no moment (and no
        kill -9) sees one file under two rows. Returns how many rows went.
        """
        if not (images or captions or failures or remove):
            return 0
        embedder = self.embedder_name
        if captions and embedder is None:
            raise StoreError("bind_embedder() must be called before writing captions")
        now = _now()
        with self._lock:
            with self._write() as conn:
                paths = [r.path for r in images] + [r.path for r in failures]
                affected = self._hashes_at_paths(conn, paths + list(remove))
                removed = 0
                for chunk in _chunks(list(remove)):
                    removed += conn.execute(t.images.delete().where(t.images.c.path.in_(chunk))).rowcount
                # One executemany per statement, not one statement per row:
                # building a SQLAlchemy statement per row cost ~2.5 ms/row
                # (400 rows/s); SQLite itself needed a tenth of that.
                self._upsert_images(
                    conn,
                    [
                        dict(
                            path=rec.path,
                            content_hash=None,
                            size=rec.size,
                            mtime_ns=rec.mtime_ns,
                            width=None,
                            height=None,
                            format=None,
                            taken_at=None,
                            status="failed",
                            error=rec.error,
                            indexed_at=now,
                            failure_key=rec.failure_key,
                        )
                        for rec in failures
                    ],
                )
                self._upsert_images(
                    conn,
                    [
                        dict(
                            path=rec.path,
                            content_hash=rec.content_hash,
                            size=rec.size,
                            mtime_ns=rec.mtime_ns,
                            width=rec.width,
                            height=rec.height,
                            format=rec.format,
                            taken_at=rec.taken_at,
                            status="ok",
                            error=None,
                            indexed_at=now,
                            failure_key=None,
                        )
                        for rec in images
                    ],
                )
                affected.update(rec.content_hash for rec in images)
                rewritten = self._upsert_captions(conn, captions, embedder or "", now)
                affected.update(cap.content_hash for cap in captions)
                delta = self._commit_current(conn, affected, rewritten)
            self._apply_delta(delta)
        return removed

    def remove_paths(self, paths: Sequence[str]) -> int:
        """Forget files that are gone from disk. Returns how many rows went."""
        if not paths:
            return 0
        removed = 0
        with self._lock:
            with self._write() as conn:
                affected = self._hashes_at_paths(conn, paths)
                for chunk in _chunks(list(paths)):
                    removed += conn.execute(t.images.delete().where(t.images.c.path.in_(chunk))).rowcount
                delta = self._commit_current(conn, affected)
            self._apply_delta(delta)
        return removed

    def file_states_at(self, paths: Iterable[str], folders: Iterable[str] = ()) -> dict[str, FileState]:
        """Known files at exactly ``paths`` and anywhere inside ``folders``.

        Unlike ``file_states`` this uses the path index (equality and a key
        range), so a watcher asking about a few changed paths does not read
        every row of a large library.
        """
        out: dict[str, FileState] = {}
        cols = _FILE_STATE_COLUMNS
        with self._read() as conn:
            for chunk in _chunks(list(dict.fromkeys(paths))):
                for row in conn.execute(select(*cols).where(t.images.c.path.in_(chunk))):
                    out[row[0]] = FileState(*row[1:])
            for folder in dict.fromkeys(folders):
                for row in conn.execute(select(*cols).where(_inside_folder(t.images.c.path, folder))):
                    out[row[0]] = FileState(*row[1:])
        return out

    def move_paths(self, moves: Sequence[tuple[str, str]]) -> int:
        """Re-point rows from old paths to new ones, in order, keeping their captions.

        Each (old, new) pair is a renamed file or a renamed folder (every row
        inside it moves). Nothing is read from disk and no caption changes:
        captions belong to content, not to paths. A row already at the new
        path was overwritten on disk, so it goes. Only ok rows move: a failure
        belongs to the old path and to the moment it happened (often "file
        disappeared", the move itself), so it is dropped and the file is read
        afresh at its new path. All moves commit in one transaction. Returns
        how many rows moved.
        """
        if not moves:
            return 0
        moved = 0
        images = t.images
        with self._lock:
            with self._write() as conn:
                affected: set[str] = set()
                for old, new in moves:
                    old, new = old.rstrip("/") or "/", new.rstrip("/") or "/"
                    if old == new:
                        continue
                    has_file = conn.execute(select(images.c.id).where(images.c.path == old)).first() is not None
                    if has_file:
                        affected |= self._hashes_at_paths(conn, [new])
                        conn.execute(images.delete().where(images.c.path == new))
                        conn.execute(images.delete().where(images.c.path == old, images.c.status != "ok"))
                        moved += conn.execute(images.update().where(images.c.path == old).values(path=new)).rowcount
                        continue
                    under_old = _inside_folder(images.c.path, old)
                    if conn.execute(select(images.c.id).where(under_old).limit(1)).first() is None:
                        continue
                    clash = _inside_folder(images.c.path, new) | (images.c.path == new)
                    affected.update(
                        r[0]
                        for r in conn.execute(
                            select(images.c.content_hash).where(clash, images.c.content_hash.is_not(None))
                        )
                    )
                    conn.execute(images.delete().where(clash))
                    conn.execute(images.delete().where(under_old, images.c.status != "ok"))
                    new_path = literal(new, Text).concat(func.substr(images.c.path, len(old) + 1))
                    moved += conn.execute(images.update().where(under_old).values(path=new_path)).rowcount
                delta = self._commit_current(conn, affected)
            self._apply_delta(delta)
        return moved

    def set_active_captioner(self, captioner: str, model_id: str) -> None:
        """Make this captioner's captions the ones search uses (where present).

        Called once a re-index with that captioner is complete; human text
        still wins over it.
        """
        with self._lock:
            with self._write() as conn:
                self._set_meta(conn, "active_captioner", captioner)
                self._set_meta(conn, "active_model", model_id)
                all_hashes = {r[0] for r in conn.execute(select(t.captions.c.content_hash).distinct())}
                all_hashes |= {r[0] for r in conn.execute(select(t.current_captions.c.content_hash))}
                delta = self._commit_current(conn, all_hashes)
            self._apply_delta(delta)

    def ensure_active_captioner(self, captioner: str, model_id: str) -> tuple[str, str]:
        """Set the active captioner if none is set yet; return the active one."""
        with self._lock, self._write() as conn:
            name = self._get_meta(conn, "active_captioner")
            if name is None:
                self._set_meta(conn, "active_captioner", captioner)
                self._set_meta(conn, "active_model", model_id)
                return captioner, model_id
            return name, self._get_meta(conn, "active_model") or ""

    def _hashes_at_paths(self, conn: Connection, paths: Sequence[str]) -> set[str]:
        if not paths:
            return set()
        sql = f"SELECT content_hash FROM images WHERE path IN {_EACH} AND content_hash IS NOT NULL"
        return {r[0] for r in _fetch(conn, sql, _json(paths))}

    @staticmethod
    def _upsert_images(conn: Connection, rows: list[dict]) -> None:
        """Insert or update image rows by path, in order (a later row for the same path wins)."""
        if not rows:
            return
        _executemany(conn, _UPSERT_IMAGE, [tuple(row[c] for c in _IMAGE_COLUMNS) for row in rows])

    @staticmethod
    def _upsert_captions(conn: Connection, caps: Sequence[CaptionRecord], embedder: str, now: str) -> set[int]:
        """Insert or replace captions with their tags, objects and vectors, in
        order (a later record for the same caption wins). Returns their ids."""
        if not caps:
            return set()
        key_cols = ("content_hash", "captioner", "model_id", "task")
        last: dict[tuple[str, str, str, str], CaptionRecord] = {}
        for cap in caps:
            last[(cap.content_hash, cap.captioner, cap.model_id, cap.task)] = cap
        _executemany(
            conn,
            _UPSERT_CAPTION,
            [
                (c.content_hash, c.captioner, c.model_id, c.task, c.text, c.ocr_text, int(c.human), now)
                for c in last.values()
            ],
        )
        ids: dict[tuple[str, str, str, str], int] = {}
        sql = f"SELECT id, {', '.join(key_cols)} FROM captions WHERE content_hash IN {_EACH}"
        for cid, *key in _fetch(conn, sql, _json(sorted({k[0] for k in last}))):
            if tuple(key) in last:
                ids[tuple(key)] = int(cid)  # type: ignore[index]
        by_id = {ids[k]: cap for k, cap in last.items()}
        id_json = _json(sorted(by_id))
        conn.exec_driver_sql(f"DELETE FROM tags WHERE caption_id IN {_EACH}", (id_json,))
        conn.exec_driver_sql(f"DELETE FROM objects WHERE caption_id IN {_EACH}", (id_json,))
        _executemany(
            conn,
            "INSERT INTO tags (caption_id, label, score) VALUES (?, ?, ?)",
            [(cid, label, float(score)) for cid, cap in by_id.items() for label, score in cap.tags],
        )
        _executemany(
            conn,
            "INSERT INTO objects (caption_id, label, count, score) VALUES (?, ?, ?, ?)",
            [
                (cid, label, int(count), float(score))
                for cid, cap in by_id.items()
                for label, count, score in cap.objects
            ],
        )
        vectors = []
        for cid, cap in by_id.items():
            vec = np.ascontiguousarray(cap.vector, dtype=np.float32)
            vectors.append((cid, embedder, int(vec.shape[0]), vec.tobytes()))
        _executemany(
            conn,
            "INSERT INTO embeddings (caption_id, embedder, dim, vector) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (caption_id, embedder) DO UPDATE SET dim = excluded.dim, vector = excluded.vector",
            vectors,
        )
        return set(by_id)

    def _commit_current(self, conn: Connection, hashes: set[str], rewritten: Collection[int] = ()) -> _Delta | None:
        """Re-decide the searched caption for ``hashes``, keep FTS in step,
        drop generated captions of content no file has any more, and bump
        the generation. Returns the change the FAISS cache must follow once
        the transaction has committed (None if search is unaffected).

        ``rewritten`` are caption ids whose text or vector was just replaced
        in place: if one stays current, its FTS row and FAISS vector are
        replaced too, or they would keep the old text and vector."""
        if not hashes:
            return None
        active_name = self._get_meta(conn, "active_captioner")
        active_model = self._get_meta(conn, "active_model") or ""
        embedder = self._get_meta(conn, "embedder") or ""
        hash_list = sorted(hashes)

        hash_json = _json(hash_list)
        live = {
            r[0]
            for r in _fetch(
                conn, f"SELECT content_hash FROM images WHERE content_hash IN {_EACH} AND status = 'ok'", hash_json
            )
        }
        candidates: dict[str, list[tuple[int, bool, bool, str]]] = {}
        sql = (
            "SELECT content_hash, id, human, captioner, model_id, created_at FROM captions"
            f" WHERE content_hash IN {_EACH} AND task = ?"
        )
        for h, cid, human, name, model, created in _fetch(conn, sql, hash_json, SEARCH_TASK):
            is_active = name == active_name and model == active_model
            candidates.setdefault(h, []).append((cid, bool(human), is_active, created))
        sql = f"SELECT content_hash, caption_id FROM current_captions WHERE content_hash IN {_EACH}"
        old_current: dict[str, int] = dict(_fetch(conn, sql, hash_json))

        new_current: dict[str, int] = {}
        for h in live:
            if h in candidates:
                # Human text first, then the active captioner, then the newest.
                best = max(candidates[h], key=lambda c: (c[1], c[2], c[3], c[0]))
                new_current[h] = best[0]

        stale = [h for h, cid in old_current.items() if new_current.get(h) != cid or cid in rewritten]
        removed_ids = [old_current[h] for h in stale]
        added = {h: cid for h, cid in new_current.items() if old_current.get(h) != cid or cid in rewritten}
        dead = [h for h in hash_list if h not in live]

        _executemany(conn, "DELETE FROM search_text WHERE rowid = ?", [(cid,) for cid in removed_ids])
        if stale:
            conn.exec_driver_sql(f"DELETE FROM current_captions WHERE content_hash IN {_EACH}", (_json(stale),))
        if added:
            _executemany(
                conn, "INSERT INTO current_captions (content_hash, caption_id) VALUES (?, ?)", list(added.items())
            )
            self._insert_search_text(conn, list(added.values()))
        # Content that no file has any more: generated captions go; human
        # text stays, so it comes back if the file does.
        if dead:
            conn.exec_driver_sql(f"DELETE FROM captions WHERE content_hash IN {_EACH} AND human = 0", (_json(dead),))

        add_vectors = self._vectors_for(conn, list(added.values()), embedder)
        if not removed_ids and not add_vectors and not dead and not added:
            return None
        generation = self._generation(conn)
        self._set_meta(conn, "generation", str(generation + 1))
        return _Delta(generation, np.array(removed_ids, dtype=np.int64), add_vectors)

    def _apply_delta(self, delta: _Delta | None) -> None:
        """Make the in-memory FAISS follow a transaction that has committed."""
        if delta is None:
            return
        with self._lock:
            if self._vindex is None:
                return
            if self._vindex_generation != delta.generation_before:
                # Another process wrote in between; our copy is stale.
                self._vindex = None
                return
            self._vindex.remove(delta.removed)
            if delta.added:
                ids = np.fromiter(delta.added.keys(), dtype=np.int64, count=len(delta.added))
                self._vindex.add(ids, np.stack(list(delta.added.values())))
            self._vindex_generation = delta.generation_before + 1
            self._vindex_dirty = True
            if self._vindex.needs_rebuild():
                # The collection crossed a layout boundary (see IndexSpec):
                # the next vector_index() rebuilds it from SQLite, once.
                log.info("vector index outgrew its %s layout at %d vectors", self._vindex.spec.kind, len(self._vindex))
                self._vindex = None

    @staticmethod
    def _vectors_for(conn: Connection, caption_ids: list[int], embedder: str) -> dict[int, np.ndarray]:
        if not caption_ids:
            return {}
        sql = f"SELECT caption_id, vector FROM embeddings WHERE caption_id IN {_EACH} AND embedder = ?"
        return {
            cid: np.frombuffer(blob, dtype=np.float32) for cid, blob in _fetch(conn, sql, _json(caption_ids), embedder)
        }

    @staticmethod
    def _insert_search_text(conn: Connection, caption_ids: list[int]) -> None:
        if caption_ids:
            ids = _json(caption_ids)
            rows = _fetch(conn, f"SELECT id, text, ocr_text FROM captions WHERE id IN {_EACH}", ids)
            tag_text: dict[int, list[str]] = {}
            for cid, label in _fetch(conn, f"SELECT caption_id, label FROM tags WHERE caption_id IN {_EACH}", ids):
                tag_text.setdefault(cid, []).append(label)
            object_text: dict[int, list[str]] = {}
            for cid, label in _fetch(conn, f"SELECT caption_id, label FROM objects WHERE caption_id IN {_EACH}", ids):
                object_text.setdefault(cid, []).append(label)
            _executemany(
                conn,
                "INSERT INTO search_text (rowid, caption, tags, ocr, objects) VALUES (?, ?, ?, ?, ?)",
                [
                    (cid, txt, " ".join(tag_text.get(cid, [])), ocr, " ".join(object_text.get(cid, [])))
                    for cid, txt, ocr in rows
                ],
            )

    # -- the FAISS cache ---------------------------------------------------

    def vector_index(self) -> VectorIndex:
        """The FAISS index, checked against SQLite and rebuilt if it disagrees."""
        with self._lock:
            with self._read() as conn:
                generation = self._generation(conn)
                embedder = self._get_meta(conn, "embedder") or ""
                dim = int(self._get_meta(conn, "dim") or 0)
                if self._vindex is not None and self._vindex_generation == generation:
                    return self._vindex
                expected = self._searchable_count(conn, embedder)
                loaded, reason = self._load_vectors_file(generation, expected, embedder)
                if loaded is None:
                    log.info("rebuilding vector index from SQLite: %s", reason)
                    loaded = self._build_from_sqlite(conn, embedder, dim)
                    self._vindex, self._vindex_generation = loaded, generation
                    if self._may_write_cache():
                        self._move_aside_unusable_vectors_file()
                        self._save_vectors(generation, embedder)
                else:
                    self._vindex, self._vindex_generation = loaded, generation
            return loaded

    def _load_vectors_file(self, generation: int, expected: int, embedder: str) -> tuple[VectorIndex | None, str]:
        try:
            vi, header = VectorIndex.load(self._vectors_path)
        except FileNotFoundError:
            return None, "no vectors file"
        except CorruptIndexFile as exc:
            return None, str(exc)
        except OSError as exc:  # unreadable, a directory, ...: a cache, so rebuild it
            return None, f"cannot read {self._vectors_path}: {exc.strerror or exc}"
        if header.generation != generation:
            return None, f"file is at generation {header.generation}, SQLite at {generation}"
        if header.count != expected or header.embedder != embedder:
            return None, f"file has {header.count} vectors, SQLite {expected}"
        if vi.needs_rebuild():
            return None, f"a {header.spec.kind} index does not fit {header.count} vectors"
        return vi, ""

    def _may_write_cache(self) -> bool:
        """Whether to write the FAISS cache. A read-only store still refreshes
        it where it can: it is derived data, replaced atomically, and a stale
        one would otherwise be rebuilt from SQLite by every search."""
        return not self.read_only or os.access(self.home, os.W_OK | os.X_OK, effective_ids=_EFFECTIVE_IDS)

    def _move_aside_unusable_vectors_file(self) -> None:
        """A directory or FIFO (anything but a file or a link) where the cache
        belongs would make every save fail: rename it out of the way, keeping
        whatever it holds for the user to look at."""
        try:
            mode = os.lstat(self._vectors_path).st_mode
        except OSError:
            return
        if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
            return  # os.replace overwrites these
        aside = self._vectors_path.with_name(f"{VECTORS_NAME}.unusable-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.rename(self._vectors_path, aside)
        except OSError as exc:
            log.warning("%s is not a file and cannot be moved aside (%s)", self._vectors_path, exc.strerror or exc)
            return
        log.warning("%s was not a file; moved it to %s and rebuilt the index from SQLite", self._vectors_path, aside)

    @staticmethod
    def _searchable_count(conn: Connection, embedder: str) -> int:
        q = (
            select(func.count())
            .select_from(
                t.current_captions.join(t.embeddings, t.embeddings.c.caption_id == t.current_captions.c.caption_id)
            )
            .where(t.embeddings.c.embedder == embedder)
        )
        return int(conn.execute(q).scalar_one())

    @staticmethod
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

        return VectorIndex.build_streaming(dim, Store._searchable_count(conn, embedder), chunks)

    def _save_vectors(self, generation: int, embedder: str) -> None:
        assert self._vindex is not None
        header = IndexHeader(
            generation=generation,
            count=len(self._vindex),
            dim=self._vindex.dim,
            embedder=embedder,
            spec=self._vindex.spec,
        )
        try:
            self._vindex.save(self._vectors_path, header)
        except OSError as exc:
            # The cache is optional: SQLite has everything. Say so and go on.
            log.warning("could not write %s (%s); it will be rebuilt next time", self._vectors_path, exc)
            return
        self._vindex_dirty = False

    def flush(self) -> None:
        """Write the FAISS cache to disk if it changed since it was loaded."""
        with self._lock:
            if self._vindex is None or not self._vindex_dirty or self._vindex_generation is None:
                return
            with self._read() as conn:
                if self._generation(conn) != self._vindex_generation:
                    self._vindex = None  # someone else wrote; rebuild on next use
                    return
                embedder = self._get_meta(conn, "embedder") or ""
            self._save_vectors(self._vindex_generation, embedder)

    # -- reads for search --------------------------------------------------

    def allowed_caption_ids(self, filters: SearchFilters) -> np.ndarray:
        """Every searched caption id that ``filters`` lets through, sorted.

        Read through the raw cursor into numpy: a broad filter at 1M images
        lets 100k ids through, and SQLAlchemy's row objects cost more than the query.
        """
        q = _allowed_select(filters, listing=True)
        with self._read() as conn:
            compiled = q.compile(conn)
            params = tuple(compiled.params[name] for name in compiled.positiontup or ())
            cursor = conn.exec_driver_sql(str(compiled), params).cursor
            ids = np.fromiter((row[0] for row in cursor), dtype=np.int64)
        # Copies of one photo at several paths share a caption id.
        return np.unique(ids)

    def filter_caption_ids(self, filters: SearchFilters, caption_ids: Sequence[int]) -> set[int]:
        """The ids among ``caption_ids`` that ``filters`` lets through: a
        filter checked on search candidates instead of the whole library."""
        q = _allowed_select(filters)
        out: set[int] = set()
        with self._read() as conn:
            for chunk in _chunks(list(caption_ids)):
                out.update(conn.execute(q.where(t.current_captions.c.caption_id.in_(chunk))).scalars())
        return out

    def keyword_candidates(self, words: Sequence[str], depth: int, allowed: np.ndarray | None = None) -> list[int]:
        """Up to ``depth`` caption ids that match query ``words``, found at a
        bounded cost however large the library (see ``_keyword``); with
        ``allowed``, only those ids."""
        allowed_json = None if allowed is None else "[" + ",".join(map(str, allowed.tolist())) + "]"
        with self._read() as conn:
            return self._keywords.discover(conn, words, depth, self._generation(conn), allowed_json)

    def keyword_scores(self, words: Sequence[str], caption_ids: Iterable[int]) -> dict[int, float]:
        """BM25 of the OR of ``words`` for each of ``caption_ids`` that matches
        any (equal to SQLite's ``-bm25()``); ids matching none are absent."""
        with self._read() as conn:
            return self._keywords.bm25(conn, words, caption_ids, self._generation(conn))

    def keyword_search(
        self, match: str, limit: int, caption_ids: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """BM25 over caption, tags, OCR text and object labels. Scores are positive, higher
        is better (SQLite's bm25() is negated). ``caption_ids`` restricts the
        search to those rows, e.g. to score candidates found by FAISS."""
        if not match:
            return []
        sql = "SELECT rowid, -bm25(search_text) AS s FROM search_text WHERE search_text MATCH :q"
        params: dict[str, object] = {"q": match, "limit": limit}
        if caption_ids is not None:
            if not caption_ids:
                return []
            sql += " AND rowid IN (SELECT value FROM json_each(:ids))"
            params["ids"] = "[" + ",".join(str(int(i)) for i in caption_ids) + "]"
        sql += " ORDER BY s DESC LIMIT :limit"
        with self._read() as conn:
            return [(int(r[0]), float(r[1])) for r in conn.execute(text(sql), params)]

    def hit_rows(self, caption_ids: Sequence[int], filters: SearchFilters = SearchFilters()) -> dict[int, list[HitRow]]:
        """For each caption id, the image rows (paths) searched by it."""
        out: dict[int, list[HitRow]] = {}
        if not caption_ids:
            return out
        c, i = t.captions, t.images
        q = (
            select(
                c.c.id,
                i.c.path,
                i.c.content_hash,
                c.c.text,
                c.c.captioner,
                c.c.model_id,
                c.c.human,
                c.c.ocr_text,
                i.c.width,
                i.c.height,
                i.c.taken_at,
            )
            .select_from(
                t.current_captions.join(c, c.c.id == t.current_captions.c.caption_id).join(
                    i, i.c.content_hash == t.current_captions.c.content_hash
                )
            )
            .where(i.c.status == "ok", *_filter_clauses(filters))
        )
        with self._read() as conn:
            tags: dict[int, list[str]] = {}
            objects: dict[int, list[tuple[str, int]]] = {}
            for chunk in _chunks(list(caption_ids)):
                for row in conn.execute(q.where(c.c.id.in_(chunk)).order_by(i.c.path)):
                    out.setdefault(row[0], []).append(row)
                tq = (
                    select(t.tags.c.caption_id, t.tags.c.label)
                    .where(t.tags.c.caption_id.in_(chunk))
                    .order_by(t.tags.c.caption_id, t.tags.c.score.desc())
                )
                for cid, label in conn.execute(tq):
                    tags.setdefault(cid, []).append(label)
                oq = (
                    select(t.objects.c.caption_id, t.objects.c.label, t.objects.c.count)
                    .where(t.objects.c.caption_id.in_(chunk))
                    .order_by(t.objects.c.caption_id, t.objects.c.count.desc(), t.objects.c.label)
                )
                for cid, label, count in conn.execute(oq):
                    objects.setdefault(cid, []).append((label, count))
        return {
            cid: [
                HitRow(
                    caption_id=r[0],
                    path=r[1],
                    content_hash=r[2],
                    caption=r[3],
                    captioner=r[4],
                    model_id=r[5],
                    human=bool(r[6]),
                    ocr_text=r[7],
                    width=r[8],
                    height=r[9],
                    taken_at=r[10],
                    tags=tuple(tags.get(cid, ())),
                    objects=tuple(objects.get(cid, ())),
                )
                for r in rows
            ]
            for cid, rows in out.items()
        }

    def current_caption_id_for_path(self, path: str) -> int | None:
        q = (
            select(t.current_captions.c.caption_id)
            .select_from(
                t.current_captions.join(t.images, t.images.c.content_hash == t.current_captions.c.content_hash)
            )
            .where(t.images.c.path == path)
        )
        with self._read() as conn:
            return conn.execute(q).scalar_one_or_none()

    def ok_paths(self) -> list[str]:
        """Every path indexed without error, sorted."""
        with self._read() as conn:
            q = select(t.images.c.path).where(t.images.c.status == "ok").order_by(t.images.c.path)
            return [r[0] for r in conn.execute(q)]

    def image_detail(self, path: str) -> ImageDetail | None:
        """The row at ``path`` with every caption of its content; None if unknown."""
        i, c = t.images, t.captions
        with self._read() as conn:
            row = conn.execute(
                select(
                    i.c.path,
                    i.c.content_hash,
                    i.c.size,
                    i.c.width,
                    i.c.height,
                    i.c.format,
                    i.c.taken_at,
                    i.c.status,
                    i.c.error,
                ).where(i.c.path == path)
            ).first()
            if row is None:
                return None
            captions: list[StoredCaption] = []
            if row.content_hash is not None:
                current = conn.execute(
                    select(t.current_captions.c.caption_id).where(t.current_captions.c.content_hash == row.content_hash)
                ).scalar_one_or_none()
                rows = conn.execute(
                    select(
                        c.c.id, c.c.captioner, c.c.model_id, c.c.task, c.c.text, c.c.ocr_text, c.c.human, c.c.created_at
                    ).where(c.c.content_hash == row.content_hash)
                ).all()
                ids = [r.id for r in rows]
                tags: dict[int, list[str]] = {}
                for cid, label in conn.execute(
                    select(t.tags.c.caption_id, t.tags.c.label)
                    .where(t.tags.c.caption_id.in_(ids))
                    .order_by(t.tags.c.score.desc(), t.tags.c.label)
                ):
                    tags.setdefault(cid, []).append(label)
                objects: dict[int, list[tuple[str, int]]] = {}
                for cid, label, count in conn.execute(
                    select(t.objects.c.caption_id, t.objects.c.label, t.objects.c.count)
                    .where(t.objects.c.caption_id.in_(ids))
                    .order_by(t.objects.c.count.desc(), t.objects.c.label)
                ):
                    objects.setdefault(cid, []).append((label, count))
                captions = [
                    StoredCaption(
                        caption_id=r.id,
                        captioner=r.captioner,
                        model_id=r.model_id,
                        task=r.task,
                        text=r.text,
                        ocr_text=r.ocr_text,
                        human=bool(r.human),
                        created_at=r.created_at,
                        current=r.id == current,
                        tags=tuple(tags.get(r.id, ())),
                        objects=tuple(objects.get(r.id, ())),
                    )
                    for r in rows
                ]
                # Current first, then newest first.
                captions.sort(key=lambda sc: (sc.current, sc.created_at), reverse=True)
        return ImageDetail(
            path=row.path,
            content_hash=row.content_hash,
            size=row.size,
            width=row.width,
            height=row.height,
            format=row.format,
            taken_at=row.taken_at,
            status=row.status,
            error=row.error,
            captions=tuple(captions),
        )

    def set_human_caption(self, path: str, caption: str, vector: np.ndarray, *, source: str = "ui-edit") -> int:
        """Store ``caption`` as human-written text for the content at ``path``
        and make it the searched caption. Returns its caption id.

        ``vector`` must come from this index's embedder. Human text always wins
        over generated text, so no later index or re-index replaces it; an
        edit of an edit replaces the earlier edit. The OCR text, tags and
        detected objects of the caption it replaces are kept, so filters and
        keyword search still find the image by them.
        """
        text_ = caption.strip()
        if not text_:
            raise StoreError("a caption cannot be empty")
        with self._read() as conn:
            content_hash = conn.execute(
                select(t.images.c.content_hash).where(t.images.c.path == path, t.images.c.status == "ok")
            ).scalar_one_or_none()
            if content_hash is None:
                raise StoreError(f"{path}: not in the index")
            current = conn.execute(
                select(t.captions.c.id, t.captions.c.ocr_text)
                .select_from(t.current_captions.join(t.captions, t.captions.c.id == t.current_captions.c.caption_id))
                .where(t.current_captions.c.content_hash == content_hash)
            ).first()
            ocr, tags, objects = "", (), ()
            if current is not None:
                ocr = current.ocr_text
                tags = tuple(
                    (label, float(score))
                    for label, score in conn.execute(
                        select(t.tags.c.label, t.tags.c.score).where(t.tags.c.caption_id == current.id)
                    )
                )
                objects = tuple(
                    (label, int(count), float(score))
                    for label, count, score in conn.execute(
                        select(t.objects.c.label, t.objects.c.count, t.objects.c.score).where(
                            t.objects.c.caption_id == current.id
                        )
                    )
                )
        record = CaptionRecord(
            content_hash=content_hash,
            captioner="human",
            model_id=source,
            task=SEARCH_TASK,
            text=text_,
            vector=vector,
            ocr_text=ocr,
            human=True,
            tags=tags,
            objects=objects,
        )
        self.write_batch(captions=[record])
        caption_id = self.current_caption_id_for_path(path)
        assert caption_id is not None
        return caption_id

    # -- status ------------------------------------------------------------

    def status(self, failure_limit: int = 50) -> StoreStatus:
        i = t.images
        with self._read() as conn:
            counts = dict(conn.execute(select(i.c.status, func.count()).group_by(i.c.status)).all())
            failures = conn.execute(
                select(i.c.path, i.c.error).where(i.c.status == "failed").order_by(i.c.path).limit(failure_limit)
            ).all()
            by_model = conn.execute(
                select(t.captions.c.captioner, t.captions.c.model_id, func.count())
                .select_from(t.current_captions.join(t.captions, t.captions.c.id == t.current_captions.c.caption_id))
                .group_by(t.captions.c.captioner, t.captions.c.model_id)
                .order_by(func.count().desc())
            ).all()
            embedder = self._get_meta(conn, "embedder")
            searchable = self._searchable_count(conn, embedder or "")
            return StoreStatus(
                home=str(self.home),
                images=sum(counts.values()),
                ok=counts.get("ok", 0),
                failed=counts.get("failed", 0),
                searchable=searchable,
                failures=[(p, e or "") for p, e in failures],
                captions_by_model=[(n, m, c) for n, m, c in by_model],
                active_captioner=self._get_meta(conn, "active_captioner"),
                active_model=self._get_meta(conn, "active_model"),
                embedder=embedder,
                generation=self._generation(conn),
                unreadable_folders=[
                    (e["path"], e["error"]) for e in json.loads(self._get_meta(conn, _UNREADABLE_FOLDERS) or "[]")
                ],
            )

    def record_unreadable_folders(self, roots: Iterable[str], folders: Iterable[tuple[str, str]]) -> None:
        """Remember the (folder, why) that a scan of ``roots`` could not list,
        replacing what earlier scans of those roots found, so that ``status``
        still shows them after the run's own output is gone. Folders under
        other roots are kept: indexing one root says nothing about another."""
        prefixes = [r.rstrip("/") + "/" for r in roots]

        def scanned(path: str) -> bool:
            return any((path + "/").startswith(p) for p in prefixes)

        with self._lock, self._write() as conn:
            before = json.loads(self._get_meta(conn, _UNREADABLE_FOLDERS) or "[]")
            after = [e for e in before if not scanned(e["path"])]
            after += [{"path": p, "error": e} for p, e in dict(folders).items()]
            after.sort(key=lambda e: e["path"])
            if after != before:
                # ASCII JSON: a folder name that is not UTF-8 (surrogate escapes) stays storable.
                self._set_meta(conn, _UNREADABLE_FOLDERS, json.dumps(after))

    def failed_paths_under(self, roots: Iterable[str]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        with self._read() as conn:
            for root in roots:
                q = select(t.images.c.path, t.images.c.error).where(
                    t.images.c.status == "failed", _under(t.images.c.path, root)
                )
                out.extend((p, e or "") for p, e in conn.execute(q))
        return sorted(out)

    # -- library roots (what the UI may serve; see _roots.py) ----------------

    def library_roots(self, *, derive: bool = True) -> tuple[str, ...]:
        """The folders (or files) the user indexed or watched, outermost only.

        An index from before roots were recorded answers with the outermost
        folders holding its images (``derive``; otherwise with none), until
        the next ``add_library_roots`` records them for good.
        """
        with self._read() as conn:
            if not derive:
                return _roots.decode(self._get_meta(conn, _roots.META_KEY)) or ()
            return self._library_roots(conn)

    def add_library_roots(self, roots: Iterable[str]) -> tuple[str, ...]:
        """Record ``roots`` (made absolute) as part of the library; returns the new list."""
        new = _roots.normalised(roots)
        with self._write() as conn:
            merged = _roots.outermost([*self._library_roots(conn), *new])
            if merged != _roots.decode(self._get_meta(conn, _roots.META_KEY)):
                self._set_meta(conn, _roots.META_KEY, _roots.encode(merged))
        return merged

    def _library_roots(self, conn: Connection) -> tuple[str, ...]:
        recorded = _roots.decode(self._get_meta(conn, _roots.META_KEY))
        if recorded is not None:
            return recorded
        paths = conn.execute(select(t.images.c.path).where(t.images.c.status == "ok")).scalars()
        return _roots.derived_from_images(paths)


#: A path, then FileState's fields in order.
_FILE_STATE_COLUMNS = (
    t.images.c.path,
    t.images.c.size,
    t.images.c.mtime_ns,
    t.images.c.status,
    t.images.c.content_hash,
    t.images.c.error,
    t.images.c.failure_key,
)


def _under(column, root: str):  # type: ignore[no-untyped-def]
    """SQL condition: ``column`` is ``root`` itself or a path inside it.

    A key range (see ``_inside_folder``) rather than LIKE, so '%' and '_'
    in folder names are not wildcards, and rather than substr(), which
    cannot use the index on path: a folder filter scanned every image (0.3 s at 1M).
    """
    root = root.rstrip("/") or "/"
    return (column == root) | _inside_folder(column, root)


def _inside_folder(column, folder: str):  # type: ignore[no-untyped-def]
    """SQL condition: ``column`` is a path strictly inside ``folder``.

    A key range rather than substr(), so SQLite can use the index on path:
    every string starting with "dir/" sorts at or after "dir/" and before
    "dir0" ('0' is the byte after '/').
    """
    prefix = folder.rstrip("/") + "/"
    return (column >= prefix) & (column < prefix[:-1] + "0")


def _allowed_select(filters: SearchFilters, *, listing: bool = False):  # type: ignore[no-untyped-def]
    """SELECT of the searched caption ids of healthy images that ``filters`` lets through."""
    return (
        select(t.current_captions.c.caption_id)
        .select_from(t.current_captions.join(t.images, t.images.c.content_hash == t.current_captions.c.content_hash))
        .where(t.images.c.status == "ok", *_filter_clauses(filters, listing=listing))
    )


def _filter_clauses(filters: SearchFilters, *, listing: bool = False) -> list:
    """SQL conditions on a join of current_captions and images.

    ``listing``: the query lists every allowed id in the library, so an
    object label is tested with IN over ix_objects_label, which lets SQLite
    start from that label's rows (1.2 s -> 0.1 s at 1M images). For a few
    known candidates a correlated EXISTS is cheaper: IN would read all of
    the label's rows for every query.
    """
    clauses = []
    if filters.folder:
        clauses.append(_under(t.images.c.path, filters.folder))
    # Photos without EXIF time fall back to the file's modification time.
    # Written out literally so that it is the expression ix_images_when indexes
    # (unqualified: index expressions cannot name a table; no other table has these columns).
    when = literal_column(WHEN_SQL)
    if filters.date_from:
        clauses.append(when >= filters.date_from)
    if filters.date_to:
        clauses.append(when <= filters.date_to)
    if filters.has_text:
        clauses.append(_searched_caption(lambda c: c.c.ocr_text != ""))
    if filters.captioner:
        clauses.append(_searched_caption(lambda c: c.c.captioner == filters.captioner))
    if filters.model:
        clauses.append(_searched_caption(lambda c: c.c.model_id == filters.model))
    for label in filters.objects:
        if listing:
            clauses.append(
                t.current_captions.c.caption_id.in_(select(t.objects.c.caption_id).where(t.objects.c.label == label))
            )
        else:
            clauses.append(
                select(t.objects.c.caption_id)
                .where(t.objects.c.caption_id == t.current_captions.c.caption_id, t.objects.c.label == label)
                .exists()
            )
    return clauses


def _searched_caption(condition):  # type: ignore[no-untyped-def]
    """SQL condition: the row's searched caption meets ``condition(captions)``.

    A correlated EXISTS over its own alias of captions, so it works the same
    in queries that already join captions and in those that do not.
    """
    c = t.captions.alias("searched_caption")
    return select(c.c.id).where(c.c.id == t.current_captions.c.caption_id, condition(c)).exists()
