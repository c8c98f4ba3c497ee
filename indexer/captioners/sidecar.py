"""Import captions people already wrote, instead of generating them.

Looks, in this order, for:

1. a text file next to the image, as training sets keep them (kohya):
   ``photo.txt``, ``photo.caption`` or ``photo.jpg.txt`` for ``photo.jpg``;
2. text embedded in the image: XMP ``dc:description``, IPTC
   Caption-Abstract (2:120), EXIF ImageDescription (0x010E).

Results are marked ``human=True``, so the store never lets generated text
replace them. An image with no caption anywhere fails, and the message says
where it looked. Selectable as ``--captioner sidecar``; it is also how the
search stage can be measured on its own, with known captions.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Sequence
from typing import ClassVar

from PIL import Image

from ..captioning import TASK_CAPTION, BaseCaptioner, CaptionResult
from ..decode import EMBEDDED_DESCRIPTION, SOURCE_PATH, embedded_descriptions

#: Embedded sources, most trusted first: XMP is what current editors
#: (Lightroom, digiKam, darktable) write; IPTC and EXIF are older and are
#: often left stale or filled by the camera.
EMBEDDED_ORDER = ("xmp", "iptc", "exif")
_LABELS = {"xmp": "XMP dc:description", "iptc": "IPTC Caption-Abstract", "exif": "EXIF ImageDescription"}

# A caption file far bigger than this is something else (notes, a log).
_MAX_SIDECAR_BYTES = 1024 * 1024

# What cameras and tools write into the description fields on their own.
# Imported as human text it would outrank every real caption, for good.
_PLACEHOLDERS = frozenset(
    {
        "olympus digital camera",
        "sony dsc",
        "digital camera",
        "minolta digital camera",
        "konica minolta digital camera",
        "samsung digital camera",
        "kodak digital still camera",
        "exif_jpeg_picture",
        "default",
        "x-default",
        "untitled",
    }
)


class SidecarCaptioner(BaseCaptioner):
    name: ClassVar[str] = "sidecar"
    tasks: ClassVar[frozenset[str]] = frozenset({TASK_CAPTION})

    def __init__(self, *, device: str = "auto", model: str | None = None) -> None:
        # Nothing to load and nothing to run on a device. The registry turns a
        # constructor's ValueError into a usage error.
        if model not in (None, "", "v1"):
            raise ValueError(f"the sidecar captioner has no models to choose from (got {model!r})")

    @property
    def model_id(self) -> str:
        return "sidecar-v1"

    def caption(self, images: Sequence[Image.Image], task: str = TASK_CAPTION) -> list[CaptionResult]:
        if task not in self.tasks:
            raise ValueError(f"the sidecar captioner only imports captions (task 'caption'), not {task!r}")
        # One image without a caption fails the batch; the pipeline then
        # retries one at a time, so the message lands on the right file.
        return [find_caption(img) for img in images]


def find_caption(img: Image.Image) -> CaptionResult:
    """The caption for one decoded image, or ValueError saying where it looked."""
    path = img.info.get(SOURCE_PATH) or getattr(img, "filename", "") or ""
    if path:
        for candidate in sidecar_paths(path):
            text = _read_sidecar(candidate)
            if text:
                return CaptionResult(text=text, human=True, extra={"source": "sidecar-file"})
    # Images from indexer.decode carry what they had; one opened directly
    # (Image.open) still has its metadata to read.
    embedded = img.info.get(EMBEDDED_DESCRIPTION)
    if embedded is None:
        embedded = embedded_descriptions(img)
    ignored = []
    for source in EMBEDDED_ORDER:
        text = embedded.get(source, "")
        if text and _is_placeholder(text):
            ignored.append(f"{_LABELS[source]} {text!r}")
        elif text:
            return CaptionResult(text=text, human=True, extra={"source": source})
    message = f"no caption found: {_where_looked(path)}"
    if ignored:
        message += f" (ignored camera default text: {', '.join(ignored)})"
    raise ValueError(message)


def sidecar_paths(image_path: str) -> list[str]:
    """Caption files for ``image_path``, in order of preference."""
    stem = os.path.splitext(image_path)[0]
    candidates = [stem + ".txt", stem + ".caption", image_path + ".txt"]
    return [c for i, c in enumerate(candidates) if c != image_path and c not in candidates[:i]]


def _read_sidecar(path: str) -> str:
    """The trimmed text of a caption file; "" when it is missing or blank."""
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_SIDECAR_BYTES + 1)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return ""
    except OSError as exc:
        # It is there but unreadable: say so rather than quietly using
        # whatever the image says instead.
        raise ValueError(f"cannot read {os.path.basename(path)}: {exc.strerror or exc}") from exc
    if len(data) > _MAX_SIDECAR_BYTES:
        raise ValueError(f"{os.path.basename(path)} is over {_MAX_SIDECAR_BYTES // 1024} KiB; that is not a caption")
    return _decode(data).replace("\x00", "").strip()


def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Windows Notepad's "Unicode"
        return data.decode("utf-16", "replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _is_placeholder(text: str) -> bool:
    return " ".join(text.split()).lower() in _PLACEHOLDERS


def _where_looked(path: str) -> str:
    if path:
        names = "/".join(os.path.basename(p) for p in sidecar_paths(path))
        files = f"no {names}"
    else:
        files = "no source path to look for caption files next to"
    return f"{files}, no {_LABELS['xmp']}, {_LABELS['iptc']} or {_LABELS['exif']}"
