"""Reads for export and import: every searched image as one flat row, in
chunks, and the stored captions an import compares its rows with.

Export walks the path index in key order (``path > last LIMIT n``), so a
library of millions of images streams through in bounded memory, all inside
one read transaction: the export is one consistent snapshot even while an
indexer writes.

A row also carries the content's ``detailed`` and ``alt_text`` text, chosen
by ``pick_task_text`` so that the row's provenance columns (captioner,
model, human) stay true of them: ``import`` stores them under those.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, select

from . import _schema as t
from ._db import Database, chunks, get_meta
from ._photo_details import details_by_hash
from ._records import CaptionRecord, ExportRow

#: (content hash, captioner, model id, task): the captions table's unique key.
CaptionKey = tuple[str, str, str, str]
#: The tasks whose text an export row carries beside its caption, by column name.
TEXT_TASKS = ("detailed", "alt_text")

_current_join = t.images.join(t.current_captions, t.current_captions.c.content_hash == t.images.c.content_hash).join(
    t.captions, t.captions.c.id == t.current_captions.c.caption_id
)


class Exchange:
    """What ``picscribe export`` reads and what ``picscribe import`` checks before it writes."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def export_chunks(self, chunk_size: int = 1000, *, vectors: bool = False) -> Iterator[list[ExportRow]]:
        """Every ok image with a searched caption, by path, ``chunk_size`` rows at a time.

        With ``vectors`` each row carries its caption's vector from the
        index's embedder (the same vector for every path of one content).
        """
        i, c = t.images, t.captions
        q = (
            select(
                i.c.path,
                i.c.content_hash,
                i.c.size,
                i.c.mtime_ns,
                i.c.width,
                i.c.height,
                i.c.format,
                i.c.taken_at,
                c.c.id,
                c.c.text,
                c.c.captioner,
                c.c.model_id,
                c.c.human,
                c.c.ocr_text,
            )
            .select_from(_current_join)
            .where(i.c.status == "ok")
            .order_by(i.c.path)
            .limit(chunk_size)
        )
        with self._db.read() as conn:
            embedder = get_meta(conn, "embedder") or ""
            last: str | None = None
            while True:
                rows = conn.execute(q if last is None else q.where(i.c.path > last)).all()
                if not rows:
                    return
                last = rows[-1].path
                ids = sorted({r.id for r in rows})
                tags, objects = _tags_and_objects(conn, ids)
                vecs = _vectors(conn, ids, embedder) if vectors else {}
                texts = _task_texts(conn, {r.content_hash for r in rows})
                details = details_by_hash(conn, {r.content_hash for r in rows})
                yield [
                    ExportRow(
                        path=r.path,
                        content_hash=r.content_hash,
                        size=r.size,
                        mtime_ns=r.mtime_ns,
                        width=r.width or 0,
                        height=r.height or 0,
                        format=r.format or "",
                        taken_at=r.taken_at,
                        caption=r.text,
                        captioner=r.captioner,
                        model_id=r.model_id,
                        human=bool(r.human),
                        ocr_text=r.ocr_text,
                        tags=tuple(tags.get(r.id, ())),
                        objects=tuple(objects.get(r.id, ())),
                        vector=vecs.get(r.id),
                        detailed=pick_task_text(
                            texts.get((r.content_hash, "detailed"), ()), r.captioner, r.model_id, bool(r.human)
                        ),
                        alt_text=pick_task_text(
                            texts.get((r.content_hash, "alt_text"), ()), r.captioner, r.model_id, bool(r.human)
                        ),
                        place=d.place if (d := details.get(r.content_hash)) else None,
                        camera=d.camera if d else None,
                    )
                    for r in rows
                ]

    def captions_by_key(self, keys: Iterable[CaptionKey]) -> dict[CaptionKey, CaptionRecord]:
        """The stored caption at each of ``keys`` that exists, with its tags,
        objects and vector from the index's embedder (an empty vector if it has none)."""
        c = t.captions
        wanted = set(keys)
        out: dict[CaptionKey, CaptionRecord] = {}
        # By content hash (the unique key's first column, so its index): a
        # content has a caption or two, and one bound value a hash is cheaper
        # to build than four a key.
        with self._db.read() as conn:
            embedder = get_meta(conn, "embedder") or ""
            for chunk in chunks(sorted({k[0] for k in wanted})):
                cols = (
                    c.c.id,
                    c.c.content_hash,
                    c.c.captioner,
                    c.c.model_id,
                    c.c.task,
                    c.c.text,
                    c.c.ocr_text,
                    c.c.human,
                )
                rows = [
                    r
                    for r in conn.execute(select(*cols).where(c.c.content_hash.in_(chunk)))
                    if (r.content_hash, r.captioner, r.model_id, r.task) in wanted
                ]
                ids = sorted(r.id for r in rows)
                tags, objects = _tags_and_objects(conn, ids)
                vecs = _vectors(conn, ids, embedder)
                for r in rows:
                    out[(r.content_hash, r.captioner, r.model_id, r.task)] = CaptionRecord(
                        content_hash=r.content_hash,
                        captioner=r.captioner,
                        model_id=r.model_id,
                        task=r.task,
                        text=r.text,
                        vector=vecs.get(r.id, np.zeros(0, dtype=np.float32)),
                        ocr_text=r.ocr_text,
                        human=bool(r.human),
                        tags=tuple(tags.get(r.id, ())),
                        objects=tuple(objects.get(r.id, ())),
                    )
        return out


@dataclass(frozen=True)
class TaskText:
    """One stored caption of a task other than the searched one (detailed, alt text)."""

    captioner: str
    model_id: str
    human: bool
    #: ISO 8601 to the second, so string order is time order.
    created_at: str
    caption_id: int
    text: str


def pick_task_text(candidates: Iterable[TaskText], captioner: str, model_id: str, human: bool) -> str | None:
    """The text of one task to export beside a caption made by ``captioner``,
    ``model_id`` (``human``: whether a person wrote it); None if none fits.

    The one made by the same captioner and model first: it came with the
    caption (a sidecar's alt text, the description a model embedded). Else,
    beside a person's caption, the newest text a person wrote. Generated text
    from another model is left out, and so is human text beside a generated
    caption: ``import`` stores this text under the row's captioner, model and
    human flag, and must neither credit one model with another's words nor
    turn a person's words into generated text (or the reverse).
    """
    fitting = []
    for c in candidates:
        if (c.captioner, c.model_id) == (captioner, model_id):
            return c.text
        if human and c.human:
            fitting.append(c)
    best = max(fitting, key=lambda c: (c.created_at, c.caption_id), default=None)
    return None if best is None else best.text


def _task_texts(conn: Connection, content_hashes: set[str]) -> dict[tuple[str, str], list[TaskText]]:
    """The stored detailed and alt-text captions of each content, by (content hash, task)."""
    c = t.captions
    out: dict[tuple[str, str], list[TaskText]] = {}
    cols = (c.c.content_hash, c.c.task, c.c.captioner, c.c.model_id, c.c.human, c.c.created_at, c.c.id, c.c.text)
    for chunk in chunks(sorted(content_hashes)):
        q = select(*cols).where(c.c.content_hash.in_(chunk), c.c.task.in_(TEXT_TASKS))
        for r in conn.execute(q):
            text = TaskText(r.captioner, r.model_id, bool(r.human), r.created_at or "", r.id, r.text)
            out.setdefault((r.content_hash, r.task), []).append(text)
    return out


def _tags_and_objects(
    conn: Connection, caption_ids: Sequence[int]
) -> tuple[dict[int, list[tuple[str, float]]], dict[int, list[tuple[str, int, float]]]]:
    """Tags (best score first) and object counts (biggest count first) of each caption."""
    tags: dict[int, list[tuple[str, float]]] = {}
    objects: dict[int, list[tuple[str, int, float]]] = {}
    for chunk in chunks(list(caption_ids)):
        tq = (
            select(t.tags.c.caption_id, t.tags.c.label, t.tags.c.score)
            .where(t.tags.c.caption_id.in_(chunk))
            .order_by(t.tags.c.caption_id, t.tags.c.score.desc(), t.tags.c.label)
        )
        for cid, label, score in conn.execute(tq):
            tags.setdefault(cid, []).append((label, float(score)))
        oq = (
            select(t.objects.c.caption_id, t.objects.c.label, t.objects.c.count, t.objects.c.score)
            .where(t.objects.c.caption_id.in_(chunk))
            .order_by(t.objects.c.caption_id, t.objects.c.count.desc(), t.objects.c.label)
        )
        for cid, label, count, score in conn.execute(oq):
            objects.setdefault(cid, []).append((label, int(count), float(score)))
    return tags, objects


def _vectors(conn: Connection, caption_ids: Sequence[int], embedder: str) -> dict[int, np.ndarray]:
    e = t.embeddings
    out: dict[int, np.ndarray] = {}
    for chunk in chunks(list(caption_ids)):
        q = select(e.c.caption_id, e.c.vector).where(e.c.caption_id.in_(chunk), e.c.embedder == embedder)
        for cid, blob in conn.execute(q):
            out[cid] = np.frombuffer(blob, dtype=np.float32)
    return out
