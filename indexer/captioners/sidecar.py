"""Import captions people already wrote, instead of generating them.

Looks for the caption text, in this order:

1. a text file next to the image, as training sets keep them (kohya):
   ``photo.txt``, ``photo.caption`` or ``photo.jpg.txt`` for ``photo.jpg``;
2. an XMP sidecar, ``photo.jpg.xmp`` (digiKam, darktable, Immich) else
   ``photo.xmp`` (Lightroom): its ``dc:description``;
3. text embedded in the image: XMP ``dc:description``, IPTC
   Caption-Abstract (2:120), EXIF ImageDescription (0x010E);
4. the XMP sidecar's alt text (``Iptc4xmpExt:AltTextAccessibility``), then
   its ``dc:title``: other kinds of text, used only when no description
   field exists anywhere.

The XMP sidecar's keywords (``dc:subject``, leaves of
``lr:hierarchicalSubject``) become tags with score 1.0 whichever source the
text came from, and its title, alt text and extended description go in
``extra``. ``--task alt_text`` answers with ``AltTextAccessibility`` and
``--task detailed`` with ``ExtDescrAccessibility``, from the sidecar only.
A sidecar that exists but is broken or hostile fails that image, with the
file named, rather than being passed over in silence.

An edit to a caption file or sidecar next to an unchanged image is picked up
by ``index`` and ``watch``: the captioner declares ``reads_metadata``, and
the indexer compares each image's sidecar signature (``sidecar_files``).

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

from ..captioning import TASK_ALT_TEXT, TASK_CAPTION, TASK_DETAILED, BaseCaptioner, CaptionResult, Tag
from ..decode import EMBEDDED_DESCRIPTION, SOURCE_PATH, embedded_descriptions
from ..sidecar_files import caption_file_paths
from ..xmp_sidecar import XmpSidecar, find_xmp_sidecar, xmp_sidecar_paths

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
    tasks: ClassVar[frozenset[str]] = frozenset({TASK_CAPTION, TASK_DETAILED, TASK_ALT_TEXT})

    def __init__(self, *, device: str = "auto", model: str | None = None) -> None:
        # Nothing to load and nothing to run on a device. The registry turns a
        # constructor's ValueError into a usage error.
        if model not in (None, "", "v1"):
            raise ValueError(f"the sidecar captioner has no models to choose from (got {model!r})")

    @property
    def model_id(self) -> str:
        return "sidecar-v1"

    @property
    def reads_metadata(self) -> bool:
        return True

    def caption(self, images: Sequence[Image.Image], task: str = TASK_CAPTION) -> list[CaptionResult]:
        if task not in self.tasks:
            raise ValueError(
                f"the sidecar captioner imports captions, alt text and detailed descriptions, not {task!r}"
            )
        # One image without a caption fails the batch; the pipeline then
        # retries one at a time, so the message lands on the right file.
        if task == TASK_CAPTION:
            return [find_caption(img) for img in images]
        return [_accessibility_text(img, task) for img in images]


def find_caption(img: Image.Image) -> CaptionResult:
    """The caption for one decoded image, or ValueError saying where it looked."""
    path = _source_path(img)
    for candidate in caption_file_paths(path) if path else []:
        text = _read_sidecar(candidate)
        if text:
            return _result(text, "sidecar-file", _xmp(path))
    xmp = _xmp(path)
    if xmp is not None and xmp.description and not is_camera_placeholder(xmp.description):
        return _result(xmp.description, "xmp-sidecar", xmp)
    # Images from indexer.decode carry what they had; one opened directly
    # (Image.open) still has its metadata to read.
    embedded = img.info.get(EMBEDDED_DESCRIPTION)
    if embedded is None:
        embedded = embedded_descriptions(img)
    ignored = []
    for source in EMBEDDED_ORDER:
        text = embedded.get(source, "")
        if text and is_camera_placeholder(text):
            ignored.append(f"{_LABELS[source]} {text!r}")
        elif text:
            return _result(text, source, xmp)
    if xmp is not None:
        for text in (xmp.alt_text, xmp.title):
            if text and not is_camera_placeholder(text):
                return _result(text, "xmp-sidecar", xmp)
    message = f"no caption found: {_where_looked(path, xmp)}"
    if ignored:
        message += f" (ignored camera default text: {', '.join(ignored)})"
    raise ValueError(message)


def _source_path(img: Image.Image) -> str:
    return str(img.info.get(SOURCE_PATH) or getattr(img, "filename", "") or "")


def _xmp(path: str) -> XmpSidecar | None:
    return find_xmp_sidecar(path) if path else None


def _result(text: str, source: str, xmp: XmpSidecar | None) -> CaptionResult:
    """A human caption; the XMP sidecar, when there is one, adds tags and its other fields."""
    if xmp is None:
        return CaptionResult(text=text, human=True, extra={"source": source})
    extra: dict[str, object] = {"source": source, "xmp_sidecar": xmp.path}
    for key, value in (
        ("title", xmp.title),
        ("alt_text", xmp.alt_text),
        ("extended_description", xmp.extended_description),
    ):
        if value:
            extra[key] = value
    tags = tuple(Tag(keyword, 1.0) for keyword in xmp.keywords)
    # Stored beside the caption as the person's alt text and detailed description.
    others = {TASK_ALT_TEXT: xmp.alt_text, TASK_DETAILED: xmp.extended_description}
    other_tasks = {task: value for task, value in others.items() if value and not is_camera_placeholder(value)}
    return CaptionResult(text=text, tags=tags, human=True, extra=extra, other_tasks=other_tasks)


_ACCESSIBILITY_FIELDS = {
    TASK_ALT_TEXT: ("alt_text", "Iptc4xmpExt:AltTextAccessibility"),
    TASK_DETAILED: ("extended_description", "Iptc4xmpExt:ExtDescrAccessibility"),
}


def _accessibility_text(img: Image.Image, task: str) -> CaptionResult:
    """The sidecar's alt text or extended description, for ``--task alt_text|detailed``."""
    attribute, label = _ACCESSIBILITY_FIELDS[task]
    path = _source_path(img)
    xmp = _xmp(path)
    text = str(getattr(xmp, attribute, "")) if xmp is not None else ""
    if text:
        return _result(text, "xmp-sidecar", xmp)
    if xmp is not None:
        raise ValueError(f"no {label} in {os.path.basename(xmp.path)}")
    names = "/".join(os.path.basename(p) for p in xmp_sidecar_paths(path)) if path else "XMP sidecar"
    raise ValueError(f"no {label} found: no {names}")


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


def is_camera_placeholder(text: str) -> bool:
    """Text a camera or tool writes into description fields on its own ("OLYMPUS DIGITAL CAMERA")."""
    return " ".join(text.split()).lower() in _PLACEHOLDERS


def _where_looked(path: str, xmp: XmpSidecar | None) -> str:
    if path:
        names = "/".join(os.path.basename(p) for p in caption_file_paths(path))
        files = f"no {names}, "
        if xmp is None:
            files += f"no {'/'.join(os.path.basename(p) for p in xmp_sidecar_paths(path))}"
        else:
            files += f"no dc:description in {os.path.basename(xmp.path)}"
    else:
        files = "no source path to look for caption files next to"
    return f"{files}, no {_LABELS['xmp']}, {_LABELS['iptc']} or {_LABELS['exif']}"
