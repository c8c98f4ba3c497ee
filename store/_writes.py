"""The write path: record a batch, forget or move paths, switch the active
captioner. Each is one transaction that also re-decides the searched
caption of the content it touched (``commit_current``) and bumps the
generation; the FAISS cache follows once it has committed.

Raw SQL strings, run straight through the driver, because this is where
bulk indexing spends its time: building a SQLAlchemy statement per row
cost ~2.5 ms a row (400 rows/s) where SQLite needed a tenth of that, and
moving this path to executemany with one JSON-array parameter per IN list
took a 20k-image library build from 4.7k to 11.8k rows/s (commit 3af4da0).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection

from ._current import SEARCH_TASK, Candidate, diff_current, pick_all
from ._db import Database, StoreError, generation, get_meta, set_meta
from ._filter_sql import folder_range
from ._photo_details import UPSERT as _UPSERT_DETAILS
from ._photo_details import details_row, place_words_by_caption
from ._records import CaptionRecord, FailureRecord, ImageRecord, PhotoDetails
from ._vector_cache import Delta, VectorCache

#: ``x IN {_EACH}`` with one JSON array bound: any number of values in one
#: statement, with no per-value parameter to build (see _json).
_EACH = "(SELECT value FROM json_each(?))"

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
    "pixel_hash",
    "sidecar_sig",
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
_UPSERT_PICTURE_HASH = (
    "INSERT INTO picture_hashes (content_hash, hash) VALUES (?, ?)"
    " ON CONFLICT (content_hash) DO UPDATE SET hash = excluded.hash"
)
_CaptionKey = tuple[str, str, str, str]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json(values: Iterable[object]) -> str:
    return json.dumps(list(values))


def _fetch(conn: Connection, sql: str, *params: object) -> Sequence[Any]:
    """All rows of a raw statement, as plain tuples."""
    return conn.exec_driver_sql(sql, params).cursor.fetchall()


def _run(conn: Connection, sql: str, *params: object) -> int:
    """Run one raw statement; returns how many rows it changed."""
    return conn.exec_driver_sql(sql, params).rowcount


def _executemany(conn: Connection, sql: str, rows: list[tuple]) -> None:
    """One prepared statement run over many rows, straight through the driver."""
    if rows:
        conn.exec_driver_sql(sql, rows)


class Writer:
    """Every change to the index. ``lock`` is held from each commit until
    the FAISS cache has followed it, so the cache sees changes in order."""

    def __init__(self, db: Database, cache: VectorCache, lock: threading.RLock) -> None:
        self._db = db
        self._cache = cache
        self._lock = lock

    def write_batch(
        self,
        images: Sequence[ImageRecord] = (),
        captions: Sequence[CaptionRecord] = (),
        failures: Sequence[FailureRecord] = (),
        remove: Sequence[str] = (),
        carry: Sequence[tuple[str, str]] = (),
    ) -> int:
        """Record one batch in a single transaction: all of it or none of it.

        ``remove`` are paths to forget in that same transaction: the old path
        of content written here at its new path, so that no moment (and no
        kill -9) sees one file under two rows. ``carry`` are (old, new)
        content hashes whose pixels are the same (only metadata in the file
        changed): the new content gets copies of every caption the old one
        has, human text included, in the same transaction as its image row.
        Returns how many rows went.
        """
        if not (images or captions or failures or remove or carry):
            return 0
        embedder = self._db.meta("embedder")
        if captions and embedder is None:
            raise StoreError("bind_embedder() must be called before writing captions")
        now = _now()
        with self._lock:
            with self._db.write() as conn:
                paths = [r.path for r in images] + [r.path for r in failures]
                affected = _hashes_at_paths(conn, paths + list(remove))
                removed = _delete_paths(conn, remove)
                for old, new in carry:
                    _copy_captions(conn, old, new)
                    affected.add(new)
                _executemany(conn, _UPSERT_IMAGE, [_failure_row(rec, now) for rec in failures])
                _executemany(conn, _UPSERT_IMAGE, [_image_row(rec, now) for rec in images])
                _executemany(conn, _UPSERT_PICTURE_HASH, _picture_hash_rows(images))
                affected.update(rec.content_hash for rec in images)
                rewritten = _upsert_captions(conn, captions, embedder or "", now)
                affected.update(cap.content_hash for cap in captions)
                delta = commit_current(conn, affected, rewritten)
            self._cache.apply(delta)
        return removed

    def remove_paths(self, paths: Sequence[str]) -> int:
        """Forget files that are gone from disk. Returns how many rows went."""
        if not paths:
            return 0
        with self._lock:
            with self._db.write() as conn:
                affected = _hashes_at_paths(conn, paths)
                removed = _delete_paths(conn, paths)
                delta = commit_current(conn, affected)
            self._cache.apply(delta)
        return removed

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
        with self._lock:
            with self._db.write() as conn:
                affected: set[str] = set()
                for old, new in moves:
                    old, new = old.rstrip("/") or "/", new.rstrip("/") or "/"
                    if old != new:
                        moved += _move(conn, old, new, affected)
                delta = commit_current(conn, affected)
            self._cache.apply(delta)
        return moved

    def write_picture_hashes(self, hashes: dict[str, bytes]) -> None:
        """Record picture hashes of content already indexed (an index from before
        migration 7), in one transaction; content no file has any more is skipped."""
        if not hashes:
            return
        with self._lock, self._db.write() as conn:
            live = {
                r[0]
                for r in _fetch(
                    conn,
                    f"SELECT DISTINCT content_hash FROM images WHERE content_hash IN {_EACH} AND status = 'ok'",
                    _json(sorted(hashes)),
                )
            }
            _executemany(conn, _UPSERT_PICTURE_HASH, [(h, code) for h, code in hashes.items() if h in live])

    def write_photo_details(self, details: Sequence[PhotoDetails]) -> None:
        """Record what the EXIF of indexed content says (place, camera), in one
        transaction, and give its searched caption's keyword row the place.
        Content no file has any more is skipped."""
        if not details:
            return
        with self._lock:
            with self._db.write() as conn:
                sql = f"SELECT DISTINCT content_hash FROM images WHERE content_hash IN {_EACH} AND status = 'ok'"
                live = {r[0] for r in _fetch(conn, sql, _json(sorted({d.content_hash for d in details})))}
                _executemany(conn, _UPSERT_DETAILS, [details_row(d) for d in details if d.content_hash in live])
                # Only a place changes the keyword index (the camera is a filter, not text).
                placed = sorted({d.content_hash for d in details if d.content_hash in live and d.place is not None})
                if not placed:
                    return
                sql = f"SELECT caption_id FROM current_captions WHERE content_hash IN {_EACH}"
                searched = [r[0] for r in _fetch(conn, sql, _json(placed))]
                _executemany(conn, "DELETE FROM search_text WHERE rowid = ?", [(cid,) for cid in searched])
                _insert_search_text(conn, searched)
                # The keyword index changed (its cached word counts are per
                # generation); the vectors did not.
                before = generation(conn)
                set_meta(conn, "generation", str(before + 1))
            self._cache.apply(Delta(before, np.zeros(0, dtype=np.int64), {}))

    def set_active_captioner(self, captioner: str, model_id: str) -> None:
        """Make this captioner's captions the ones search uses (where present).

        Called once a re-index with that captioner is complete; human text
        still wins over it.
        """
        with self._lock:
            with self._db.write() as conn:
                set_meta(conn, "active_captioner", captioner)
                set_meta(conn, "active_model", model_id)
                all_hashes = {r[0] for r in _fetch(conn, "SELECT DISTINCT content_hash FROM captions")}
                all_hashes |= {r[0] for r in _fetch(conn, "SELECT content_hash FROM current_captions")}
                delta = commit_current(conn, all_hashes)
            self._cache.apply(delta)

    def ensure_active_captioner(self, captioner: str, model_id: str) -> tuple[str, str]:
        """Set the active captioner if none is set yet; return the active one."""
        with self._lock, self._db.write() as conn:
            name = get_meta(conn, "active_captioner")
            if name is None:
                set_meta(conn, "active_captioner", captioner)
                set_meta(conn, "active_model", model_id)
                return captioner, model_id
            return name, get_meta(conn, "active_model") or ""


def _hashes_at_paths(conn: Connection, paths: Sequence[str]) -> set[str]:
    if not paths:
        return set()
    sql = f"SELECT content_hash FROM images WHERE path IN {_EACH} AND content_hash IS NOT NULL"
    return {r[0] for r in _fetch(conn, sql, _json(paths))}


def _delete_paths(conn: Connection, paths: Sequence[str]) -> int:
    if not paths:
        return 0
    return _run(conn, f"DELETE FROM images WHERE path IN {_EACH}", _json(paths))


def _image_row(rec: ImageRecord, now: str) -> tuple:
    """``rec`` as an ok row, in _IMAGE_COLUMNS order."""
    shape = (rec.width, rec.height, rec.format, rec.taken_at)
    return (
        rec.path,
        rec.content_hash,
        rec.size,
        rec.mtime_ns,
        *shape,
        "ok",
        None,
        now,
        None,
        rec.pixel_hash,
        rec.sidecar_sig,
    )


def _picture_hash_rows(images: Sequence[ImageRecord]) -> list[tuple]:
    """(content hash, picture hash) of the records that carry one, once per content."""
    # An empty hash (a flat picture) is stored too: computed, with nothing to compare.
    rows = {rec.content_hash: (rec.content_hash, rec.picture_hash) for rec in images if rec.picture_hash is not None}
    return list(rows.values())


def _failure_row(rec: FailureRecord, now: str) -> tuple:
    """``rec`` as a failed row, in _IMAGE_COLUMNS order."""
    shape = (None, None, None, None)
    return (
        rec.path,
        None,
        rec.size,
        rec.mtime_ns,
        *shape,
        "failed",
        rec.error,
        now,
        rec.failure_key,
        None,
        rec.sidecar_sig,
    )


def _move(conn: Connection, old: str, new: str, affected: set[str]) -> int:
    """Move the file or folder at ``old`` to ``new``; adds the content it
    displaced to ``affected``. Returns how many rows moved."""
    if _fetch(conn, "SELECT 1 FROM images WHERE path = ?", old):
        affected |= _hashes_at_paths(conn, [new])
        _run(conn, "DELETE FROM images WHERE path = ?", new)
        _run(conn, "DELETE FROM images WHERE path = ? AND status != 'ok'", old)
        return _run(conn, "UPDATE images SET path = ? WHERE path = ?", new, old)
    # A folder: a key range over the path index (see _filter_sql.folder_range).
    under_old = "path >= ? AND path < ?"
    old_range = folder_range(old)
    if not _fetch(conn, f"SELECT 1 FROM images WHERE {under_old} LIMIT 1", *old_range):
        return 0
    clash = "(path >= ? AND path < ? OR path = ?)"
    clash_params = (*folder_range(new), new)
    sql = f"SELECT content_hash FROM images WHERE {clash} AND content_hash IS NOT NULL"
    affected.update(r[0] for r in _fetch(conn, sql, *clash_params))
    _run(conn, f"DELETE FROM images WHERE {clash}", *clash_params)
    _run(conn, f"DELETE FROM images WHERE {under_old} AND status != 'ok'", *old_range)
    return _run(conn, f"UPDATE images SET path = ? || substr(path, ?) WHERE {under_old}", new, len(old) + 1, *old_range)


def _copy_captions(conn: Connection, old: str, new: str) -> None:
    """Give content ``new`` a copy of each caption of ``old`` it lacks, with
    tags, objects and vectors. Copies, not moves: another file may still
    have the old bytes."""
    _run(
        conn,
        "INSERT INTO captions (content_hash, captioner, model_id, task, text, ocr_text, human, created_at)"
        " SELECT ?, captioner, model_id, task, text, ocr_text, human, created_at FROM captions"
        " WHERE content_hash = ? ON CONFLICT (content_hash, captioner, model_id, task) DO NOTHING",
        new,
        old,
    )
    # Old caption id -> its copy, matched on the rest of the unique key.
    pairs = (
        "SELECT o.id AS old_id, n.id AS new_id FROM captions AS o JOIN captions AS n"
        " ON n.captioner = o.captioner AND n.model_id = o.model_id AND n.task = o.task"
        " WHERE o.content_hash = ? AND n.content_hash = ?"
    )
    for table, columns in (
        ("tags", "label, score"),
        ("objects", "label, count, score"),
        ("embeddings", "embedder, dim, vector"),
    ):
        _run(
            conn,
            f"INSERT OR IGNORE INTO {table} (caption_id, {columns})"
            f" SELECT p.new_id, {', '.join('x.' + c.strip() for c in columns.split(','))}"
            f" FROM ({pairs}) AS p JOIN {table} AS x ON x.caption_id = p.old_id",
            old,
            new,
        )


def _upsert_captions(conn: Connection, caps: Sequence[CaptionRecord], embedder: str, now: str) -> set[int]:
    """Insert or replace captions with their tags, objects and vectors, in
    order (a later record for the same caption wins). Returns their ids."""
    if not caps:
        return set()
    last: dict[_CaptionKey, CaptionRecord] = {}
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
    ids: dict[_CaptionKey, int] = {}
    sql = f"SELECT id, content_hash, captioner, model_id, task FROM captions WHERE content_hash IN {_EACH}"
    for cid, content_hash, captioner, model_id, task in _fetch(conn, sql, _json(sorted({k[0] for k in last}))):
        key = (content_hash, captioner, model_id, task)
        if key in last:
            ids[key] = int(cid)
    by_id = {ids[k]: cap for k, cap in last.items()}
    id_json = _json(sorted(by_id))
    _run(conn, f"DELETE FROM tags WHERE caption_id IN {_EACH}", id_json)
    _run(conn, f"DELETE FROM objects WHERE caption_id IN {_EACH}", id_json)
    _executemany(
        conn,
        "INSERT INTO tags (caption_id, label, score) VALUES (?, ?, ?)",
        [(cid, label, float(score)) for cid, cap in by_id.items() for label, score in cap.tags],
    )
    _executemany(
        conn,
        "INSERT INTO objects (caption_id, label, count, score) VALUES (?, ?, ?, ?)",
        [(cid, label, int(count), float(score)) for cid, cap in by_id.items() for label, count, score in cap.objects],
    )
    # A rewritten caption's vectors from other embedders (a re-embed under way) describe its old text.
    _run(conn, f"DELETE FROM embeddings WHERE caption_id IN {_EACH} AND embedder != ?", id_json, embedder)
    vectors = []
    for cid, cap in by_id.items():
        vec = np.ascontiguousarray(cap.vector, dtype=np.float32)
        if vec.size:  # a caption of a task search does not rank by (alt text) has no vector
            vectors.append((cid, embedder, int(vec.shape[0]), vec.tobytes()))
    _executemany(
        conn,
        "INSERT INTO embeddings (caption_id, embedder, dim, vector) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (caption_id, embedder) DO UPDATE SET dim = excluded.dim, vector = excluded.vector",
        vectors,
    )
    return set(by_id)


def commit_current(conn: Connection, hashes: set[str], rewritten: Collection[int] = ()) -> Delta | None:
    """Re-decide the searched caption for ``hashes`` (the rule is in
    ``_current``), keep FTS in step, drop generated captions of content no
    file has any more, and bump the generation. Returns the change the FAISS
    cache must follow once the transaction has committed (None if search is
    unaffected).

    ``rewritten`` are caption ids whose text or vector was just replaced
    in place (see ``diff_current``)."""
    if not hashes:
        return None
    active_name = get_meta(conn, "active_captioner")
    active = None if active_name is None else (active_name, get_meta(conn, "active_model") or "")
    embedder = get_meta(conn, "embedder") or ""
    hash_list = sorted(hashes)
    hash_json = _json(hash_list)

    live = {
        r[0]
        for r in _fetch(
            conn, f"SELECT content_hash FROM images WHERE content_hash IN {_EACH} AND status = 'ok'", hash_json
        )
    }
    candidates: dict[str, list[Candidate]] = {}
    sql = (
        "SELECT content_hash, id, human, captioner, model_id, created_at FROM captions"
        f" WHERE content_hash IN {_EACH} AND task = ?"
    )
    for h, cid, human, name, model, created in _fetch(conn, sql, hash_json, SEARCH_TASK):
        candidates.setdefault(h, []).append(Candidate(cid, bool(human), name, model, created))
    sql = f"SELECT content_hash, caption_id FROM current_captions WHERE content_hash IN {_EACH}"
    old_current: dict[str, int] = dict(_fetch(conn, sql, hash_json))

    change = diff_current(old_current, pick_all(candidates, live, active), rewritten)
    dead = [h for h in hash_list if h not in live]

    _executemany(conn, "DELETE FROM search_text WHERE rowid = ?", [(cid,) for cid in change.removed_ids])
    if change.stale:
        _run(conn, f"DELETE FROM current_captions WHERE content_hash IN {_EACH}", _json(change.stale))
    if change.added:
        _executemany(
            conn, "INSERT INTO current_captions (content_hash, caption_id) VALUES (?, ?)", list(change.added.items())
        )
        _insert_search_text(conn, list(change.added.values()))
    # Content that no file has any more: generated captions go; human
    # text stays, so it comes back if the file does.
    if dead:
        _run(conn, f"DELETE FROM captions WHERE content_hash IN {_EACH} AND human = 0", _json(dead))
        _run(conn, f"DELETE FROM picture_hashes WHERE content_hash IN {_EACH}", _json(dead))
        _run(conn, f"DELETE FROM photo_details WHERE content_hash IN {_EACH}", _json(dead))

    add_vectors = _vectors_for(conn, list(change.added.values()), embedder)
    if not change.removed_ids and not add_vectors and not dead and not change.added:
        return None
    before = generation(conn)
    set_meta(conn, "generation", str(before + 1))
    return Delta(before, np.array(change.removed_ids, dtype=np.int64), add_vectors)


def _vectors_for(conn: Connection, caption_ids: list[int], embedder: str) -> dict[int, np.ndarray]:
    if not caption_ids:
        return {}
    sql = f"SELECT caption_id, vector FROM embeddings WHERE caption_id IN {_EACH} AND embedder = ?"
    return {cid: np.frombuffer(blob, dtype=np.float32) for cid, blob in _fetch(conn, sql, _json(caption_ids), embedder)}


def _insert_search_text(conn: Connection, caption_ids: list[int]) -> None:
    if not caption_ids:
        return
    ids = _json(caption_ids)
    rows = _fetch(conn, f"SELECT id, text, ocr_text FROM captions WHERE id IN {_EACH}", ids)
    tag_text: dict[int, list[str]] = {}
    for cid, label in _fetch(conn, f"SELECT caption_id, label FROM tags WHERE caption_id IN {_EACH}", ids):
        tag_text.setdefault(cid, []).append(label)
    object_text: dict[int, list[str]] = {}
    for cid, label in _fetch(conn, f"SELECT caption_id, label FROM objects WHERE caption_id IN {_EACH}", ids):
        object_text.setdefault(cid, []).append(label)
    place_text = place_words_by_caption(conn, ids)
    _executemany(
        conn,
        "INSERT INTO search_text (rowid, caption, tags, ocr, objects, place) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                cid,
                txt,
                " ".join(tag_text.get(cid, [])),
                ocr,
                " ".join(object_text.get(cid, [])),
                place_text.get(cid, ""),
            )
            for cid, txt, ocr in rows
        ],
    )
