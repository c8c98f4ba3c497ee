"""What runs on the Ray workers: read + decode (tasks), then caption + embed (an actor pool, one model per actor).

Both stages reuse the local engine's code unchanged: ``decode.load`` (pixel
limit, EXIF orientation, the same per-file reasons), the registered captioner
built through the registry, ``stages.caption_outcomes`` (one bad image does
not sink its batch) and ``embedding_text``.
"""

from __future__ import annotations

import logging

import pyarrow as pa

from picscribe.store import TextEmbedder

from ..captioning import TASK_CAPTION, CaptionResult
from ..decode import DecodeError, load
from ..pipeline import embedding_text
from ..registry import create
from ..stages import caption_outcomes
from ._options import CaptionerRecipe
from ._rows import CHANGED_WHILE_INDEXING, Row, captioned_row, decoded_row, failed_row, image_from_row, sent_entry

log = logging.getLogger(__name__)

READ_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("content_hash", pa.string()),
        ("error", pa.string()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("format", pa.string()),
        ("taken_at", pa.string()),
        ("pixels", pa.large_binary()),
        ("pixel_width", pa.int64()),
        ("pixel_height", pa.int64()),
        ("embedded", pa.string()),
    ]
)

CAPTION_SCHEMA = pa.schema(
    [field for field in READ_SCHEMA if field.name not in ("pixels", "pixel_width", "pixel_height", "embedded")]
    + [
        ("model_id", pa.string()),
        ("text", pa.string()),
        ("detailed", pa.string()),
        ("ocr_text", pa.string()),
        ("human", pa.bool_()),
        ("tags", pa.string()),
        ("objects", pa.string()),
        ("failure_type", pa.string()),
        ("failure", pa.string()),
        ("vector", pa.list_(pa.float32())),
    ]
)


def read_and_decode(batch: pa.Table, *, max_pixels: int, max_side: int) -> pa.Table:
    """Ray Data task: each file read, checked against the driver's hash, decoded as the local engine decodes it."""
    return pa.Table.from_pylist([_read_one(row, max_pixels, max_side) for row in batch.to_pylist()], READ_SCHEMA)


def _read_one(sent: Row, max_pixels: int, max_side: int) -> Row:
    try:
        # No known hashes: the driver sent only content the index has no caption for.
        loaded = load(sent_entry(sent), frozenset(), max_pixels=max_pixels, max_side=max_side)
    except DecodeError as exc:
        return failed_row(sent, str(exc))
    except Exception as exc:  # noqa: BLE001 - as stages.read_ahead: a decoder bug costs one file, not the run
        log.debug("unexpected error loading %s", sent["path"], exc_info=True)
        return failed_row(sent, f"unexpected error: {type(exc).__name__}: {exc}")
    if loaded.content_hash != sent["content_hash"]:
        return failed_row(sent, CHANGED_WHILE_INDEXING)
    return decoded_row(sent, loaded)


class CaptionAndEmbed:
    """Ray Data actor: the registered captioner and the index's embedder, built once per actor.

    The captioner is made by the registry from the driver's spec, so the class
    that runs here is the one ``--engine local`` runs, plugins included.
    """

    def __init__(self, recipe: CaptionerRecipe, embedder: TextEmbedder) -> None:
        self._captioner = create(recipe.spec, device=recipe.device, options=recipe.options)
        self._embedder = embedder

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        ready = [row for row in rows if row["error"] is None]
        outcomes = caption_outcomes(self._captioner, [image_from_row(row) for row in ready], TASK_CAPTION)
        captions = [o for o in outcomes if isinstance(o, CaptionResult)]
        vectors = iter(self._embedder.embed([embedding_text(c) for c in captions]) if captions else ())
        outcome_of = iter(outcomes)
        model_id = self._captioner.model_id
        out = []
        for row in rows:
            outcome = next(outcome_of) if row["error"] is None else None
            vector = next(vectors) if isinstance(outcome, CaptionResult) else None
            out.append(captioned_row(row, model_id, outcome, vector))
        return pa.Table.from_pylist(out, CAPTION_SCHEMA)
