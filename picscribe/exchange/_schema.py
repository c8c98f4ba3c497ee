"""The one definition of an exported row: its columns, their Parquet types,
and the checks a row must pass to be imported.

Every format carries the same columns. JSONL and Parquet hold the nested
ones (tags, objects, vector) as lists; CSV holds them as JSON text. A row is
one image with its searched caption; ``detailed`` and ``alt_text`` are that
content's text of those tasks (null, or an empty CSV cell, when it has
none), imported as captions of those tasks by the row's captioner and model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from picscribe.indexer import TASK_ALT_TEXT, TASK_CAPTION, TASK_DETAILED, CaptionResult, Tag, embedding_text
from picscribe.store import CaptionRecord, ExportRow, ImageRecord

if TYPE_CHECKING:
    import pyarrow as pa

#: Every column, in file order. ``vector`` only with ``--with-vectors``.
COLUMNS = (
    "path",
    "sha256",
    "caption",
    "detailed",
    "alt_text",
    "model",
    "captioner",
    "human",
    "tags",
    "objects",
    "ocr_text",
    "taken_at",
    "size",
    "mtime_ns",
    "width",
    "height",
    "format",
    "embedder",
    # Where and with what it was taken (EXIF): written for readers, not
    # imported (the next `index` reads them from the files again).
    "city",
    "region",
    "country",
    "country_code",
    "camera",
)
VECTOR_COLUMN = "vector"
#: What a row must have to be imported: the image row and the caption with who made it.
REQUIRED = ("path", "sha256", "caption", "captioner", "model", "size", "mtime_ns", "width", "height", "format")
#: Columns of JSON text in CSV.
NESTED = ("tags", "objects", VECTOR_COLUMN)

_SHA256 = re.compile("[0-9a-f]{64}")
PYARROW_HINT = "pip install 'picscribe[parquet]'"


class BadRow(ValueError):
    """A row that cannot be imported; the message says which field and why."""


def pyarrow_module() -> Any:
    """pyarrow, or a clear error: it is an optional dependency."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401  (a submodule: importing it is what makes pyarrow.parquet usable)
    except ImportError as exc:
        raise ModuleNotFoundError(f"Parquet needs pyarrow: {PYARROW_HINT}") from exc
    return pyarrow


def arrow_schema(*, vectors: bool) -> pa.Schema:
    pa = pyarrow_module()
    tag = pa.struct([("label", pa.string()), ("score", pa.float64())])
    obj = pa.struct([("label", pa.string()), ("count", pa.int64()), ("score", pa.float64())])
    types = {
        "human": pa.bool_(),
        "tags": pa.list_(tag),
        "objects": pa.list_(obj),
        "size": pa.int64(),
        "mtime_ns": pa.int64(),
        "width": pa.int64(),
        "height": pa.int64(),
    }
    fields = [pa.field(name, types.get(name, pa.string()), nullable=name not in REQUIRED) for name in COLUMNS]
    if vectors:
        fields.append(pa.field(VECTOR_COLUMN, pa.list_(pa.float32())))
    return pa.schema(fields)


def to_plain(row: ExportRow, embedder: str) -> dict[str, Any]:
    """``row`` as plain values (str, int, float, bool, None, lists, dicts) in column order."""
    plain: dict[str, Any] = {
        "path": row.path,
        "sha256": row.content_hash,
        "caption": row.caption,
        "detailed": row.detailed,
        "alt_text": row.alt_text,
        "model": row.model_id,
        "captioner": row.captioner,
        "human": row.human,
        "tags": [{"label": label, "score": score} for label, score in row.tags],
        "objects": [{"label": label, "count": count, "score": score} for label, count, score in row.objects],
        "ocr_text": row.ocr_text,
        "taken_at": row.taken_at,
        "size": row.size,
        "mtime_ns": row.mtime_ns,
        "width": row.width,
        "height": row.height,
        "format": row.format,
        "embedder": embedder or None,
        "city": row.place.city if row.place else None,
        "region": row.place.region if row.place else None,
        "country": row.place.country if row.place else None,
        "country_code": row.place.country_code if row.place else None,
        "camera": row.camera,
    }
    if row.vector is not None:
        plain[VECTOR_COLUMN] = row.vector.tolist()
    return plain


@dataclass(frozen=True)
class ImportRow:
    """A checked row: the image row and the captions to merge, and the embedder its vector came from."""

    image: ImageRecord
    caption: CaptionRecord
    #: None when the row has no vector: it is embedded on import.
    vector: np.ndarray | None
    embedder: str | None
    #: Its detailed and alt-text captions (those it has), by the same captioner
    #: and model; their vectors are filled in on import (see ``takes_caption_vector``).
    others: tuple[CaptionRecord, ...] = ()

    @property
    def records(self) -> tuple[CaptionRecord, ...]:
        return (self.caption, *self.others)

    def embedding_text(self) -> str:
        """What the indexer would have embedded for this row's caption."""
        detailed = next((r.text for r in self.others if takes_caption_vector(r) and r.task == TASK_DETAILED), "")
        tags = tuple(Tag(label, score) for label, score in self.caption.tags)
        return embedding_text(
            CaptionResult(text=self.caption.text, ocr_text=self.caption.ocr_text, detailed=detailed, tags=tags)
        )


def takes_caption_vector(record: CaptionRecord) -> bool:
    """Whether ``record`` is stored with its row's caption vector, as the indexer stores it.

    The caption itself; and a generated description, which a model makes
    for search and the indexer embeds in the caption's place. A person's
    description (an XMP sidecar's) and alt text are stored without a vector.
    """
    return record.task == TASK_CAPTION or (record.task == TASK_DETAILED and not record.human)


def from_plain(values: Mapping[str, Any]) -> ImportRow:
    """Check one row read from a file; raise BadRow naming the field at fault."""
    missing = [name for name in REQUIRED if values.get(name) is None]
    if missing:
        raise BadRow(f"missing {', '.join(missing)}")
    path = _text(values, "path")
    if not path.startswith("/"):
        raise BadRow(f"path {path!r} is not absolute")
    content_hash = _text(values, "sha256").lower()
    if not _SHA256.fullmatch(content_hash):
        raise BadRow("sha256 is not 64 hex digits")
    caption = _text(values, "caption").strip()
    if not caption:
        raise BadRow("caption is empty")
    captioner = _text(values, "captioner")
    if not captioner:
        raise BadRow("captioner is empty")
    human = values.get("human") or False
    if not isinstance(human, bool):
        raise BadRow(f"human is {human!r}, not true or false")
    taken_at = values.get("taken_at")
    if taken_at is not None and not isinstance(taken_at, str):
        raise BadRow("taken_at is not text")
    embedder = values.get("embedder")
    if embedder is not None and not isinstance(embedder, str):
        raise BadRow("embedder is not text")
    vector = _vector(values.get(VECTOR_COLUMN))
    image = ImageRecord(
        path=path,
        size=_count(values, "size"),
        mtime_ns=_count(values, "mtime_ns"),
        content_hash=content_hash,
        width=_count(values, "width"),
        height=_count(values, "height"),
        format=_text(values, "format"),
        taken_at=taken_at or None,
    )
    record = CaptionRecord(
        content_hash=content_hash,
        captioner=captioner,
        model_id=_text(values, "model"),
        task=TASK_CAPTION,
        text=caption,
        vector=vector if vector is not None else np.zeros(0, dtype=np.float32),
        ocr_text=_text(values, "ocr_text", default=""),
        human=human,
        tags=tuple((_label(t, "tags"), _score(t, "tags")) for t in _items(values, "tags")),
        objects=tuple(
            (_label(o, "objects"), _object_count(o), _score(o, "objects")) for o in _items(values, "objects")
        ),
    )
    others = tuple(
        CaptionRecord(
            content_hash=content_hash,
            captioner=captioner,
            model_id=record.model_id,
            task=task,
            text=text,
            vector=np.zeros(0, dtype=np.float32),
            ocr_text=record.ocr_text if task == TASK_DETAILED and not human else "",
            human=human,
        )
        for task, text in (
            (TASK_DETAILED, _optional_text(values, "detailed")),
            (TASK_ALT_TEXT, _optional_text(values, "alt_text")),
        )
        if text
    )
    return ImportRow(image=image, caption=record, vector=vector, embedder=embedder or None, others=others)


def _text(values: Mapping[str, Any], name: str, default: str | None = None) -> str:
    value = values.get(name)
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise BadRow(f"{name} is not text")
    return value


def _optional_text(values: Mapping[str, Any], name: str) -> str:
    """A text column that may be missing, null or empty: "" then."""
    value = values.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRow(f"{name} is not text")
    return value.strip()


def _count(values: Mapping[str, Any], name: str) -> int:
    value = values.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRow(f"{name} is {value!r}, not a whole number >= 0")
    return value


def _items(values: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    value = values.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise BadRow(f"{name} is not a list of objects")
    return value


def _label(item: Mapping[str, Any], name: str) -> str:
    label = item.get("label")
    if not isinstance(label, str) or not label:
        raise BadRow(f"{name}: a label is missing or not text")
    return label


def _score(item: Mapping[str, Any], name: str) -> float:
    score = item.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise BadRow(f"{name}: score {score!r} is not a number")
    return float(score)


def _object_count(item: Mapping[str, Any]) -> int:
    count = item.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise BadRow(f"objects: count {count!r} is not a whole number >= 1")
    return count


def _vector(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    # One numpy conversion instead of a check per element: a list of
    # strings or booleans gets a dtype that is not a number.
    vector = np.asarray(value) if isinstance(value, list | np.ndarray) else np.asarray([])
    if vector.ndim != 1 or vector.size == 0 or vector.dtype.kind not in "fiu":
        raise BadRow("vector is not a list of numbers")
    vector = vector.astype(np.float32, copy=False)
    if not np.isfinite(vector).all():
        raise BadRow("vector is not a list of finite numbers")
    return vector
