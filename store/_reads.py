"""What search, the UI and ``status`` read: the image rows behind search
hits, everything about one image, the list of indexed paths, the index's
status, and the caption a human edit starts from.

SQLAlchemy Core throughout: joins composed with the filter conditions of
``_filters``, at most a few hundred rows a call.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import numpy as np
from sqlalchemy import Connection, func, select

from . import _schema as t
from ._current import SEARCH_TASK
from ._db import Database, StoreError, chunks
from ._filters import filter_clauses
from ._photo_details import details_by_hash
from ._quick_status import status_of
from ._records import (
    NO_FILTERS,
    CaptionRecord,
    HitRow,
    ImageDetail,
    Place,
    SearchFilters,
    StoredCaption,
    StoreStatus,
)

_current_join = t.current_captions.join(t.captions, t.captions.c.id == t.current_captions.c.caption_id)


class Reads:
    """Read-only queries for search, the UI and status; each runs in one read transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def hit_rows(self, caption_ids: Sequence[int], filters: SearchFilters = NO_FILTERS) -> dict[int, list[HitRow]]:
        """For each caption id, the image rows (paths) searched by it."""
        if not caption_ids:
            return {}
        c, i, d = t.captions, t.images, t.photo_details
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
                d.c.city,
                d.c.region,
                d.c.country,
                d.c.country_code,
                d.c.camera,
            )
            .select_from(
                _current_join.join(i, i.c.content_hash == t.current_captions.c.content_hash).outerjoin(
                    d, d.c.content_hash == i.c.content_hash
                )
            )
            .where(i.c.status == "ok", *filter_clauses(filters))
        )
        rows_by_id: dict[int, list] = {}
        tags: dict[int, list[str]] = {}
        objects: dict[int, list[tuple[str, int]]] = {}
        with self._db.read() as conn:
            for chunk in chunks(list(caption_ids)):
                for row in conn.execute(q.where(c.c.id.in_(chunk)).order_by(i.c.path)):
                    rows_by_id.setdefault(row[0], []).append(row)
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
                    place=Place(*r[11:15]) if any(r[11:15]) else None,
                    camera=r[15],
                )
                for r in rows
            ]
            for cid, rows in rows_by_id.items()
        }

    def current_caption_id_for_path(self, path: str) -> int | None:
        q = (
            select(t.current_captions.c.caption_id)
            .select_from(
                t.current_captions.join(t.images, t.images.c.content_hash == t.current_captions.c.content_hash)
            )
            .where(t.images.c.path == path)
        )
        with self._db.read() as conn:
            return conn.execute(q).scalar_one_or_none()

    def ok_paths(self) -> list[str]:
        """Every path indexed without error, sorted."""
        with self._db.read() as conn:
            q = select(t.images.c.path).where(t.images.c.status == "ok").order_by(t.images.c.path)
            return [r[0] for r in conn.execute(q)]

    def image_detail(self, path: str) -> ImageDetail | None:
        """The row at ``path`` with every caption of its content; None if unknown."""
        i = t.images
        cols = (i.c.path, i.c.content_hash, i.c.size, i.c.width, i.c.height, i.c.format, i.c.taken_at)
        with self._db.read() as conn:
            row = conn.execute(select(*cols, i.c.status, i.c.error).where(i.c.path == path)).first()
            if row is None:
                return None
            captions = () if row.content_hash is None else _stored_captions(conn, row.content_hash)
            details = (
                None if row.content_hash is None else details_by_hash(conn, [row.content_hash]).get(row.content_hash)
            )
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
            captions=captions,
            details=details,
        )

    def human_caption_record(self, path: str, text: str, vector: np.ndarray, source: str) -> CaptionRecord:
        """``text`` as the human caption of the content at ``path``, keeping
        the OCR text, tags and objects of the caption it replaces, so filters
        and keyword search still find the image by them."""
        with self._db.read() as conn:
            content_hash = conn.execute(
                select(t.images.c.content_hash).where(t.images.c.path == path, t.images.c.status == "ok")
            ).scalar_one_or_none()
            if content_hash is None:
                raise StoreError(f"{path}: not in the index")
            current = conn.execute(
                select(t.captions.c.id, t.captions.c.ocr_text)
                .select_from(_current_join)
                .where(t.current_captions.c.content_hash == content_hash)
            ).first()
            ocr: str = ""
            tags: tuple[tuple[str, float], ...] = ()
            objects: tuple[tuple[str, int, float], ...] = ()
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
        return CaptionRecord(
            content_hash=content_hash,
            captioner="human",
            model_id=source,
            task=SEARCH_TASK,
            text=text,
            vector=vector,
            ocr_text=ocr,
            human=True,
            tags=tags,
            objects=objects,
        )

    def status(self, failure_limit: int = 50) -> StoreStatus:
        # The same queries as status's quick read (_quick_status), on this transaction's connection.
        with self._db.read() as conn:
            raw = conn.connection.dbapi_connection
            assert isinstance(raw, sqlite3.Connection)
            return status_of(raw, self._db.home, failure_limit)

    def object_labels(self) -> list[tuple[str, int]]:
        """Each object label on a searched caption, with how many contents carry it, most common first."""
        o = t.objects
        with self._db.read() as conn:
            rows = conn.execute(
                select(o.c.label, func.count())
                .select_from(t.current_captions.join(o, o.c.caption_id == t.current_captions.c.caption_id))
                .group_by(o.c.label)
                .order_by(func.count().desc(), o.c.label)
            ).all()
        return [(label, int(count)) for label, count in rows]


def _stored_captions(conn: Connection, content_hash: str) -> tuple[StoredCaption, ...]:
    """Every caption of ``content_hash``: the current one first, then newest first."""
    c = t.captions
    current = conn.execute(
        select(t.current_captions.c.caption_id).where(t.current_captions.c.content_hash == content_hash)
    ).scalar_one_or_none()
    rows = conn.execute(
        select(c.c.id, c.c.captioner, c.c.model_id, c.c.task, c.c.text, c.c.ocr_text, c.c.human, c.c.created_at).where(
            c.c.content_hash == content_hash
        )
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
    captions.sort(key=lambda sc: (sc.current, sc.created_at), reverse=True)
    return tuple(captions)
