"""What search reads, written once as SQL text over a stdlib ``sqlite3`` connection.

Two callers run these same functions: search's view (``_search_view``), which
opens SQLite without SQLAlchemy so that a cold ``picscribe search`` does not
pay for importing it, and the ``Store``, on the DB-API connection under its
SQLAlchemy transaction (``_db.driver``). Each function runs inside the
caller's read transaction. Conditions come from ``_filter_sql``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ._chunks import chunks
from ._filter_sql import ALLOWED_FROM, allowed_sql, filter_sql
from ._records import NO_FILTERS, HitRow, Place, SearchFilters

#: The image rows behind search hits: the searched caption, its image and where and with what it was taken.
_HIT_ROWS = (
    "SELECT c.id, i.path, i.content_hash, c.text, c.captioner, c.model_id, c.human, c.ocr_text,"
    " i.width, i.height, i.taken_at, d.city, d.region, d.country, d.country_code, d.camera"
    " FROM current_captions AS cc"
    " JOIN captions AS c ON c.id = cc.caption_id"
    " JOIN images AS i ON i.content_hash = cc.content_hash"
    " LEFT OUTER JOIN photo_details AS d ON d.content_hash = i.content_hash"
    " WHERE i.status = 'ok'"
)


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def meta_value(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def allowed_caption_ids(conn: sqlite3.Connection, filters: SearchFilters) -> np.ndarray:
    """Every searched caption id that ``filters`` lets through, sorted.

    Read through the cursor into numpy: a broad filter at 1M images lets
    100k ids through, and row objects would cost more than the query.
    """
    sql, params = allowed_sql(filters, listing=True)
    ids = np.fromiter((row[0] for row in conn.execute(sql, params)), dtype=np.int64)
    # Copies of one photo at several paths share a caption id.
    return np.unique(ids)


def filter_caption_ids(conn: sqlite3.Connection, filters: SearchFilters, caption_ids: Sequence[int]) -> set[int]:
    """The ids among ``caption_ids`` that ``filters`` lets through: a
    filter checked on search candidates instead of the whole library."""
    conditions, params = filter_sql(filters)
    out: set[int] = set()
    for chunk in chunks(list(caption_ids)):
        sql = f"SELECT cc.caption_id{ALLOWED_FROM}{conditions} AND cc.caption_id IN ({_marks(len(chunk))})"
        out.update(int(row[0]) for row in conn.execute(sql, [*params, *chunk]))
    return out


def hit_rows(
    conn: sqlite3.Connection, caption_ids: Sequence[int], filters: SearchFilters = NO_FILTERS
) -> dict[int, list[HitRow]]:
    """For each caption id, the image rows (paths) searched by it, by path."""
    if not caption_ids:
        return {}
    conditions, params = filter_sql(filters)
    rows_by_id: dict[int, list[tuple[Any, ...]]] = {}
    tags: dict[int, list[str]] = {}
    objects: dict[int, list[tuple[str, int]]] = {}
    for chunk in chunks(list(caption_ids)):
        marks = _marks(len(chunk))
        sql = f"{_HIT_ROWS}{conditions} AND c.id IN ({marks}) ORDER BY i.path"
        for row in conn.execute(sql, [*params, *chunk]):
            rows_by_id.setdefault(row[0], []).append(row)
        tag_sql = f"SELECT caption_id, label FROM tags WHERE caption_id IN ({marks}) ORDER BY caption_id, score DESC"
        for cid, label in conn.execute(tag_sql, tuple(chunk)):
            tags.setdefault(cid, []).append(label)
        object_sql = (
            f"SELECT caption_id, label, count FROM objects WHERE caption_id IN ({marks})"
            " ORDER BY caption_id, count DESC, label"
        )
        for cid, label, count in conn.execute(object_sql, tuple(chunk)):
            objects.setdefault(cid, []).append((label, count))
    return {
        cid: [_hit_row(r, tags.get(cid, ()), objects.get(cid, ())) for r in rows] for cid, rows in rows_by_id.items()
    }


def _hit_row(r: tuple[Any, ...], tags: Iterable[str], objects: Iterable[tuple[str, int]]) -> HitRow:
    place = r[11:15]
    return HitRow(
        caption_id=int(r[0]),
        path=str(r[1]),
        content_hash=str(r[2]),
        caption=str(r[3]),
        captioner=str(r[4]),
        model_id=str(r[5]),
        human=bool(r[6]),
        ocr_text=str(r[7]),
        width=r[8],
        height=r[9],
        taken_at=r[10],
        tags=tuple(tags),
        objects=tuple(objects),
        place=Place(*place) if any(place) else None,
        camera=r[15],
    )


def current_caption_id_for_path(conn: sqlite3.Connection, path: str) -> int | None:
    """The searched caption of the image at ``path``; None if it has none."""
    row = conn.execute(
        "SELECT cc.caption_id FROM current_captions AS cc"
        " JOIN images AS i ON i.content_hash = cc.content_hash WHERE i.path = ?",
        (path,),
    ).fetchone()
    return None if row is None else int(row[0])


def picture_hashes(conn: sqlite3.Connection, content_hashes: Iterable[str] | None = None) -> dict[str, bytes]:
    """The picture hash of each content that has one (all of them when ``content_hashes`` is None)."""
    if content_hashes is None:
        return {h: bytes(code) for h, code in conn.execute("SELECT content_hash, hash FROM picture_hashes")}
    found: dict[str, bytes] = {}
    for part in chunks(sorted(set(content_hashes))):
        sql = f"SELECT content_hash, hash FROM picture_hashes WHERE content_hash IN ({_marks(len(part))})"
        found.update((h, bytes(code)) for h, code in conn.execute(sql, tuple(part)))
    return found


def object_labels(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """Each object label on a searched caption, with how many contents carry it, most common first."""
    rows = conn.execute(
        "SELECT o.label, count(*) FROM current_captions AS cc JOIN objects AS o ON o.caption_id = cc.caption_id"
        " GROUP BY o.label ORDER BY count(*) DESC, o.label"
    )
    return [(str(label), int(count)) for label, count in rows]
