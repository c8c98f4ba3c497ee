"""What search, the UI and ``status`` read: the image rows behind search
hits, everything about one image, the list of indexed paths, the index's
status, and the caption a human edit starts from.

What search reads is SQL text shared with search's view (``_search_reads``),
run here on this store's connection; the rest is SQLAlchemy Core, at most a
few hundred rows a call.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import Connection, select

from . import _schema as t
from . import _search_reads as search_reads
from ._current import SEARCH_TASK
from ._db import Database, StoreError, driver
from ._photo_details import details_by_hash
from ._quick_status import status_of
from ._records import (
    NO_FILTERS,
    CaptionRecord,
    HitRow,
    ImageDetail,
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
        with self._db.read() as conn:
            return search_reads.hit_rows(driver(conn), caption_ids, filters)

    def current_caption_id_for_path(self, path: str) -> int | None:
        with self._db.read() as conn:
            return search_reads.current_caption_id_for_path(driver(conn), path)

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
            return status_of(driver(conn), self._db.home, failure_limit)

    def object_labels(self) -> list[tuple[str, int]]:
        """Each object label on a searched caption, with how many contents carry it, most common first."""
        with self._db.read() as conn:
            return search_reads.object_labels(driver(conn))


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
