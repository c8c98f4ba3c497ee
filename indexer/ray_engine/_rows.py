"""The rows that travel between the driver and the workers, and back into the pipeline's types.

Plain dicts of str, int, bytes and lists, so Ray Data can hold them in Arrow
blocks; pixels go one way only (reader to captioner), never back to the driver.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from ..captioning import CaptionerStopped, CaptionResult, ObjectCount, Tag
from ..decode import EMBEDDED_DESCRIPTION, SOURCE_PATH, DecodeError, Loaded
from ..scan import FileEntry

Row = dict[str, object]

#: The reason a file gets when its bytes on the worker differ from what the driver hashed.
CHANGED_WHILE_INDEXING = "file changed while it was being indexed; the next run reads it again"


@dataclass(frozen=True, kw_only=True)
class RemoteLoaded(Loaded):
    """A file the workers read, decoded, captioned and embedded: what the
    pipeline's model stage would have made of it, without the pixels."""

    outcome: CaptionResult | Exception
    vector: np.ndarray | None


def sent_row(item: Loaded) -> Row:
    """What the driver sends: where the file is, and the hash it read there."""
    e = item.entry
    return {"path": e.path, "size": e.size, "mtime_ns": e.mtime_ns, "content_hash": item.content_hash}


def sent_entry(row: Row) -> FileEntry:
    return FileEntry(str(row["path"]), _int(row["size"]), _int(row["mtime_ns"]))


def decoded_row(sent: Row, loaded: Loaded) -> Row:
    """A reader's row for a decoded image: the pixels (RGB, at most max_side) and what the index records."""
    img = loaded.image
    assert img is not None and img.mode == "RGB", "decode.load returns RGB pixels"
    return {
        **sent,
        "size": loaded.entry.size,
        "mtime_ns": loaded.entry.mtime_ns,
        "error": None,
        "width": loaded.width,
        "height": loaded.height,
        "format": loaded.format,
        "taken_at": loaded.taken_at,
        "pixel_hash": loaded.pixel_hash,
        "picture_hash": loaded.picture_hash,
        "pixels": img.tobytes(),
        "pixel_width": img.width,
        "pixel_height": img.height,
        "embedded": json.dumps(img.info.get(EMBEDDED_DESCRIPTION) or {}),
    }


def failed_row(sent: Row, error: str) -> Row:
    """A reader's row for a file that cannot be indexed; ``error`` is the local engine's reason."""
    return {
        **sent,
        "error": error,
        "width": 0,
        "height": 0,
        "format": "",
        "taken_at": None,
        "pixel_hash": None,
        "picture_hash": None,
        "pixels": None,
        "pixel_width": 0,
        "pixel_height": 0,
        "embedded": "{}",
    }


def image_from_row(row: Row) -> Image.Image:
    """The decoded image as the local engine hands it to a captioner, with the
    metadata the sidecar backend reads."""
    pixels = row["pixels"]
    assert isinstance(pixels, bytes)
    img = Image.frombytes("RGB", (_int(row["pixel_width"]), _int(row["pixel_height"])), pixels)
    img.info[SOURCE_PATH] = row["path"]
    img.info[EMBEDDED_DESCRIPTION] = json.loads(str(row["embedded"]))
    return img


def captioned_row(read: Row, model_id: str, outcome: CaptionResult | Exception | None, vector: object) -> Row:
    """A captioner's row: the reader's row without pixels, plus the caption (or why not) and its vector."""
    row = {k: v for k, v in read.items() if k not in ("pixels", "pixel_width", "pixel_height", "embedded")}
    row |= {
        "model_id": model_id,
        "text": None,
        "detailed": "",
        "ocr_text": "",
        "human": False,
        "tags": "[]",
        "objects": "[]",
        "other_tasks": "{}",
        "failure_type": None,
        "failure": None,
        "vector": None,
    }
    if isinstance(outcome, CaptionResult):
        row |= {
            "text": outcome.text,
            "detailed": outcome.detailed,
            "ocr_text": outcome.ocr_text,
            "human": outcome.human,
            "tags": json.dumps([[t.label, t.score] for t in outcome.tags]),
            "objects": json.dumps([[o.label, o.count, o.score] for o in outcome.objects]),
            "other_tasks": json.dumps(outcome.other_tasks),
            "vector": [float(x) for x in np.asarray(vector, dtype=np.float32)],
        }
    elif isinstance(outcome, Exception):
        row |= {"failure_type": type(outcome).__name__, "failure": str(outcome)}
    return row


def result_from_row(row: Row) -> RemoteLoaded | DecodeError:
    """The pipeline's view of a captioner's row: a DecodeError, or a RemoteLoaded carrying the caption."""
    if row["error"] is not None:
        return DecodeError(str(row["error"]))
    outcome: CaptionResult | Exception
    vector = None
    if row["text"] is not None:
        outcome = CaptionResult(
            text=str(row["text"]),
            tags=tuple(Tag(str(label), float(score)) for label, score in json.loads(str(row["tags"]))),
            objects=tuple(
                ObjectCount(str(label), int(count), float(score))
                for label, count, score in json.loads(str(row["objects"]))
            ),
            ocr_text=str(row["ocr_text"]),
            human=bool(row["human"]),
            detailed=str(row.get("detailed") or ""),
            other_tasks={str(k): str(v) for k, v in json.loads(str(row.get("other_tasks") or "{}")).items()},
        )
        vector = np.asarray(row["vector"], dtype=np.float32)
    else:
        outcome = remote_exception(str(row["failure_type"]), str(row["failure"]))
    return RemoteLoaded(
        sent_entry(row),
        str(row["content_hash"]),
        None,
        _int(row["width"]),
        _int(row["height"]),
        str(row["format"]),
        None if row["taken_at"] is None else str(row["taken_at"]),
        None if row.get("pixel_hash") is None else str(row["pixel_hash"]),
        _bytes_or_none(row.get("picture_hash")),
        outcome=outcome,
        vector=vector,
    )


def remote_exception(type_name: str, message: str) -> Exception:
    """A worker's exception, rebuilt so the pipeline treats and words it as the local engine does:
    CaptionerStopped stops the run; any other reads "captioner X failed: TypeName: message"."""
    if type_name == CaptionerStopped.__name__:
        return CaptionerStopped(message)
    return _exception_type(type_name)(message)


@cache
def _exception_type(name: str) -> type[Exception]:
    # Named after the worker's class: the failure text stored for the file is the one the local engine stores.
    return type(name if name.isidentifier() else "RemoteError", (RuntimeError,), {"__module__": __name__})


def _bytes_or_none(value: object) -> bytes | None:
    assert value is None or isinstance(value, bytes), type(value)
    return value


def _int(value: object) -> int:
    assert isinstance(value, int), value
    return value
