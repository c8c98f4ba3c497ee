"""Moving an index to another embedder without re-captioning it.

The embeddings table is keyed by (caption, embedder), so a new model's
vectors are written next to the old ones, in batches that each commit on
their own: an interrupted re-embed loses nothing and resumes where it
stopped, and search keeps using the old vectors meanwhile. Only when every
caption the old model embedded has a vector from the new one does one
transaction rebind the index (the ``embedder`` and ``dim`` meta values),
drop the old vectors and bump the generation, so the FAISS cache is
rebuilt from the new vectors on its next use.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection

from ._db import Database, generation, get_meta, set_meta
from ._errors import StoreError
from ._writes import _EACH, _executemany, _fetch, _json, _run

#: Captions the bound embedder has a vector for and ``?`` (the new one) has not.
_MISSING = (
    "SELECT c.id, c.content_hash, c.captioner, c.model_id, c.task, c.text, c.ocr_text, c.human"
    " FROM captions AS c JOIN embeddings AS old ON old.caption_id = c.id AND old.embedder = ?"
    " WHERE NOT EXISTS (SELECT 1 FROM embeddings AS new WHERE new.caption_id = c.id AND new.embedder = ?)"
    " ORDER BY c.id LIMIT ?"
)


@dataclass(frozen=True)
class CaptionToEmbed:
    """What an indexer would have embedded for one stored caption: its own
    text and OCR text, the same model's generated description of the same
    photo (embedded in the caption's place when there is one), and its tags
    and objects. The indexer room turns this into the embedded text."""

    caption_id: int
    task: str
    text: str
    ocr_text: str
    human: bool
    #: The same captioner's generated (not human) ``detailed`` text for this content; "" if none.
    detailed: str
    tags: tuple[tuple[str, float], ...]
    objects: tuple[tuple[str, int, float], ...]


class Reembedding:
    """The store's side of ``reembed``: read what is missing, write vectors, switch."""

    def __init__(self, db: Database, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    def missing(self, embedder: str, limit: int) -> list[CaptionToEmbed]:
        """Up to ``limit`` captions with a vector from the bound embedder and none from ``embedder``."""
        with self._db.read() as conn:
            bound = get_meta(conn, "embedder")
            if bound is None or bound == embedder:
                return []
            rows = _fetch(conn, _MISSING, bound, embedder, limit)
            return _with_context(conn, rows)

    def write(self, embedder: str, caption_ids: Sequence[int], vectors: np.ndarray) -> None:
        """Store ``embedder``'s vectors for these captions, in one transaction (search is unaffected)."""
        if len(caption_ids) != len(vectors):
            raise ValueError(f"{len(caption_ids)} caption ids but {len(vectors)} vectors")
        rows = [
            (int(cid), embedder, int(vec.shape[0]), np.ascontiguousarray(vec, dtype=np.float32).tobytes())
            for cid, vec in zip(caption_ids, vectors, strict=True)
        ]
        with self._lock, self._db.write() as conn:
            if get_meta(conn, "embedder") == embedder:
                raise StoreError(f"this index already uses embedder {embedder!r}")
            _executemany(
                conn,
                "INSERT INTO embeddings (caption_id, embedder, dim, vector) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (caption_id, embedder) DO UPDATE SET dim = excluded.dim, vector = excluded.vector",
                rows,
            )

    def switch(self, embedder: str, dim: int) -> bool:
        """Bind the index to ``embedder`` if it has a vector for every caption
        the bound one has; False (and nothing changed) if some are missing,
        say because an indexer wrote new captions meanwhile."""
        with self._lock, self._db.write() as conn:
            bound = get_meta(conn, "embedder")
            if bound == embedder:
                return True
            if bound is not None and _fetch(conn, _MISSING, bound, embedder, 1):
                return False
            wrong = _fetch(conn, "SELECT 1 FROM embeddings WHERE embedder = ? AND dim != ? LIMIT 1", embedder, dim)
            if wrong:
                raise StoreError(f"vectors from {embedder!r} do not all have {dim} values; run reembed again")
            set_meta(conn, "embedder", embedder)
            set_meta(conn, "dim", str(dim))
            # One model's vectors at rest: a later caption edit rewrites only the bound model's.
            _run(conn, "DELETE FROM embeddings WHERE embedder != ?", embedder)
            set_meta(conn, "generation", str(generation(conn) + 1))
        return True


def _with_context(conn: Connection, rows: Sequence[tuple]) -> list[CaptionToEmbed]:
    """Each caption row with its group's detailed text, tags and objects."""
    if not rows:
        return []
    ids = _json([r[0] for r in rows])
    tags: dict[int, list[tuple[str, float]]] = {}
    for cid, label, score in _fetch(
        conn, f"SELECT caption_id, label, score FROM tags WHERE caption_id IN {_EACH}", ids
    ):
        tags.setdefault(cid, []).append((label, float(score)))
    objects: dict[int, list[tuple[str, int, float]]] = {}
    sql = f"SELECT caption_id, label, count, score FROM objects WHERE caption_id IN {_EACH}"
    for cid, label, count, score in _fetch(conn, sql, ids):
        objects.setdefault(cid, []).append((label, int(count), float(score)))
    detailed: dict[tuple[str, str, str], str] = {}
    sql = (
        "SELECT content_hash, captioner, model_id, text FROM captions"
        f" WHERE content_hash IN {_EACH} AND task = 'detailed' AND human = 0"
    )
    for content_hash, captioner, model_id, text in _fetch(conn, sql, _json(sorted({r[1] for r in rows}))):
        detailed[(content_hash, captioner, model_id)] = text
    return [
        CaptionToEmbed(
            caption_id=int(cid),
            task=task,
            text=text,
            ocr_text=ocr_text or "",
            human=bool(human),
            detailed=detailed.get((content_hash, captioner, model_id), ""),
            tags=tuple(tags.get(cid, ())),
            objects=tuple(objects.get(cid, ())),
        )
        for cid, content_hash, captioner, model_id, task, text, ocr_text, human in rows
    ]
