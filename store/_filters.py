"""SQL for ``SearchFilters``, and for "this path or anything inside it".

SQLAlchemy Core throughout: the conditions are composed (a folder, dates,
captioner, objects, in any mix) and reused by search, listing and browse.
Each comment on cost is a measurement at 1M images.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
from sqlalchemy import ColumnClause, ColumnElement, Connection, Select, func, literal_column, select
from sqlalchemy.sql.selectable import NamedFromClause

from . import _schema as t
from ._db import chunks
from ._migrations import WHEN_SQL
from ._photo_details import fold, place_needle
from ._records import SearchFilters


def under(column: ColumnElement[str], root: str) -> ColumnElement[bool]:
    """SQL condition: ``column`` is ``root`` itself or a path inside it.

    A key range (see ``inside_folder``) rather than LIKE, so '%' and '_'
    in folder names are not wildcards, and rather than substr(), which
    cannot use the index on path: a folder filter scanned every image (0.3 s at 1M).
    """
    root = root.rstrip("/") or "/"
    return (column == root) | inside_folder(column, root)


def inside_folder(column: ColumnElement[str], folder: str) -> ColumnElement[bool]:
    """SQL condition: ``column`` is a path strictly inside ``folder``.

    A key range rather than substr(), so SQLite can use the index on path:
    every string starting with "dir/" sorts at or after "dir/" and before
    "dir0" ('0' is the byte after '/').
    """
    low, high = folder_range(folder)
    return (column >= low) & (column < high)


def folder_range(folder: str) -> tuple[str, str]:
    """The half-open key range [low, high) of the paths strictly inside ``folder``."""
    prefix = folder.rstrip("/") + "/"
    return prefix, prefix[:-1] + "0"


def allowed_select(filters: SearchFilters, *, listing: bool = False) -> Select[int]:
    """SELECT of the searched caption ids of healthy images that ``filters`` lets through."""
    return (
        select(t.current_captions.c.caption_id)
        .select_from(t.current_captions.join(t.images, t.images.c.content_hash == t.current_captions.c.content_hash))
        .where(t.images.c.status == "ok", *filter_clauses(filters, listing=listing))
    )


def filter_clauses(filters: SearchFilters, *, listing: bool = False) -> list[ColumnElement[bool]]:
    """SQL conditions on a join of current_captions and images.

    ``listing``: the query lists every allowed id in the library, so an
    object label is tested with IN over ix_objects_label, which lets SQLite
    start from that label's rows (1.2 s -> 0.1 s at 1M images). For a few
    known candidates a correlated EXISTS is cheaper: IN would read all of
    the label's rows for every query.
    """
    clauses: list[ColumnElement[bool]] = []
    if filters.folder:
        clauses.append(under(t.images.c.path, filters.folder))
    # Photos without EXIF time fall back to the file's modification time.
    # Written out literally so that it is the expression ix_images_when indexes
    # (unqualified: index expressions cannot name a table; no other table has these columns).
    when: ColumnClause[str] = literal_column(WHEN_SQL)
    if filters.date_from:
        clauses.append(when >= filters.date_from)
    if filters.date_to:
        clauses.append(when <= filters.date_to)
    if filters.has_text:
        clauses.append(_searched_caption(lambda c: c.c.ocr_text != ""))
    if filters.captioner:
        captioner = filters.captioner
        clauses.append(_searched_caption(lambda c: c.c.captioner == captioner))
    if filters.model:
        model = filters.model
        clauses.append(_searched_caption(lambda c: c.c.model_id == model))
    if filters.place and fold(filters.place):
        needle = place_needle(filters.place)
        clauses.append(_photo_detail(lambda d: func.instr(d.c.place_key, needle) > 0))
    if filters.camera and fold(filters.camera):
        wanted = fold(filters.camera)
        clauses.append(_photo_detail(lambda d: func.instr(d.c.camera_key, wanted) > 0))
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


def _searched_caption(condition: Callable[[NamedFromClause], ColumnElement[bool]]) -> ColumnElement[bool]:
    """SQL condition: the row's searched caption meets ``condition(captions)``.

    A correlated EXISTS over its own alias of captions, so it works the same
    in queries that already join captions and in those that do not.
    """
    c = t.captions.alias("searched_caption")
    return select(c.c.id).where(c.c.id == t.current_captions.c.caption_id, condition(c)).exists()


def _photo_detail(condition: Callable[[NamedFromClause], ColumnElement[bool]]) -> ColumnElement[bool]:
    """SQL condition: the row's content has EXIF details meeting ``condition(photo_details)``.

    A correlated EXISTS on the content hash (photo_details' primary key), so
    checking search candidates costs one lookup each. instr() rather than
    LIKE: '%' and '_' in what the user typed are not wildcards. Its own
    alias, so it stays a subquery in queries that join photo_details already.
    """
    d = t.photo_details.alias("filtered_details")
    return select(d.c.content_hash).where(d.c.content_hash == t.current_captions.c.content_hash, condition(d)).exists()


def allowed_caption_ids(conn: Connection, filters: SearchFilters) -> np.ndarray:
    """Every searched caption id that ``filters`` lets through, sorted.

    Read through the raw cursor into numpy: a broad filter at 1M images
    lets 100k ids through, and SQLAlchemy's row objects cost more than the query.
    """
    compiled = allowed_select(filters, listing=True).compile(conn)
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    # The pysqlite driver's own cursor, iterated without building row objects.
    cursor = cast(sqlite3.Cursor, conn.exec_driver_sql(str(compiled), params).cursor)
    ids = np.fromiter((row[0] for row in cursor), dtype=np.int64)
    # Copies of one photo at several paths share a caption id.
    return np.unique(ids)


def filter_caption_ids(conn: Connection, filters: SearchFilters, caption_ids: Sequence[int]) -> set[int]:
    """The ids among ``caption_ids`` that ``filters`` lets through: a
    filter checked on search candidates instead of the whole library."""
    q = allowed_select(filters)
    out: set[int] = set()
    for chunk in chunks(list(caption_ids)):
        out.update(conn.execute(q.where(t.current_captions.c.caption_id.in_(chunk))).scalars())
    return out
