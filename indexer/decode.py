"""Read, hash and decode one file: the work done on the thread pool.

The file is read once; the bytes are hashed and then decoded from memory, so
a file that changes between the two steps cannot get a hash that belongs to
other pixels. Content that the index already has a caption for is hashed but
not decoded.
"""

from __future__ import annotations

import hashlib
import io
import xml.etree.ElementTree as ET
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from PIL import Image, IptcImagePlugin, UnidentifiedImageError

from .decode_budget import DecodeBudget
from .decode_limits import DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE
from .picture_hash import picture_hash
from .pixels import decode_peak_bytes, shrink, to_rgb, upright
from .png_metadata import without_oversize_metadata
from .raw import INSTALL_HINT as RAW_INSTALL_HINT
from .raw import RawPreviewError, embedded_preview, raw_format
from .regular_file import NotRegularFileError, open_regular_file
from .scan import FileEntry
from .sniff import is_raw, sniff_format
from .warning_guard import ignoring_warnings

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_DATETIME = 0x0132
_ORIENTATION = 0x0112
_IMAGE_DESCRIPTION = 0x010E
_IPTC_CAPTION = (2, 120)
_IPTC_CHARSET = (1, 90)
_IPTC_UTF8 = b"\x1b%G"

#: Keys set on ``Loaded.image.info`` for backends that import existing text
#: (see indexer.captioners.sidecar): a backend sees only pixels otherwise.
SOURCE_PATH = "picscribe.source_path"
EMBEDDED_DESCRIPTION = "picscribe.embedded_description"

# A caption is a few hundred bytes; anything far bigger is not worth parsing.
_MAX_XMP_BYTES = 4 * 1024 * 1024
_NS_DC = "{http://purl.org/dc/elements/1.1/}"
_NS_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class DecodeError(Exception):
    """A file that cannot be indexed; the message says why, for humans."""


@dataclass(frozen=True)
class Loaded:
    entry: FileEntry
    content_hash: str
    # None when the content was already known and decoding was skipped.
    image: Image.Image | None
    width: int
    height: int
    format: str
    taken_at: str | None
    #: See ``pixel_hash``; None when decoding was skipped.
    pixel_hash: str | None = None
    #: Perceptual hash (``picture_hash``) for the "same picture" tier of
    #: duplicates; None when decoding was skipped.
    picture_hash: bytes | None = None


def pixel_hash(rgb: Image.Image) -> str:
    """A hash of the decoded, upright RGB pixels picscribe captions.

    Equal for two files that differ only in metadata (a caption written
    into the file by exiftool), so the second keeps the first's captions.
    Any change a captioner could see (an edit, a crop, a new orientation)
    changes it. It is of the image as decoded at picscribe's size, so a
    new ``max_side`` or decoder can change it: that costs a caption, never
    a wrong reuse.
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{rgb.mode} {rgb.width}x{rgb.height}\n".encode())
    digest.update(rgb.tobytes())
    return "px1:" + digest.hexdigest()


HEIC_INSTALL_HINT = "HEIC needs `pip install 'picscribe[heif]'`"
# Enough of the file for the ftyp box's list of compatible brands.
_HEAD_BYTES = 64


def _register_heif() -> None:
    """HEIC is decoded by pillow-heif, an optional extra (AVIF needs none:
    Pillow reads it itself)."""
    try:
        import pillow_heif
    except ImportError as exc:
        raise DecodeError(HEIC_INSTALL_HINT) from exc
    pillow_heif.register_heif_opener()


def load(
    entry: FileEntry,
    known_hashes: set[str] | frozenset[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int = DEFAULT_MAX_SIDE,
    budget: DecodeBudget | None = None,
) -> Loaded:
    """Raise DecodeError with a plain reason for anything that is not a usable image.

    ``budget``, shared by the threads that decode at the same time, bounds the
    memory their pixels take together; None decodes without waiting.
    """
    entry, data = read(entry)
    content_hash = hashlib.sha256(data).hexdigest()
    if content_hash in known_hashes:
        return Loaded(entry, content_hash, None, 0, 0, "", None)
    try:
        return _decode(entry, content_hash, data, max_pixels, max_side, budget)
    except DecodeError as exc:
        # Pillow refuses a whole PNG whose text or colour profile inflates too
        # far (a zip-bomb guard, ValueError); the pixels may be fine without them.
        if not isinstance(exc.__cause__, ValueError):
            raise
        slimmer = without_oversize_metadata(data)
        if slimmer is None:
            raise
        return _decode(entry, content_hash, slimmer, max_pixels, max_side, budget)


def read(entry: FileEntry) -> tuple[FileEntry, bytes]:
    """The file's bytes, with its size and mtime as read; DecodeError with a plain reason when it cannot be read.

    One place for both engines: the Ray engine's driver hashes with it, and
    its workers decode through ``load``, so the two give the same reasons.
    """
    try:
        # Not open(): a name that became a FIFO after the scan would block it for ever.
        f, st = open_regular_file(entry.path)
        with f:
            data = f.read()
    except NotRegularFileError as exc:
        raise DecodeError(str(exc)) from exc
    except FileNotFoundError as exc:
        raise DecodeError("file disappeared before it could be read") from exc
    except PermissionError as exc:
        raise DecodeError("permission denied") from exc
    except OSError as exc:
        raise DecodeError(f"cannot read file: {exc.strerror or exc}") from exc
    # Record what we actually read, not what the scan saw a moment earlier.
    entry = FileEntry(entry.path, len(data), st.st_mtime_ns)
    if not data:
        raise DecodeError("empty file (0 bytes)")
    return entry, data


def _decode(
    entry: FileEntry, content_hash: str, data: bytes, max_pixels: int, max_side: int, budget: DecodeBudget | None
) -> Loaded:
    head = data[:_HEAD_BYTES]
    if is_raw(entry.path, head):
        return _decode_raw(entry, content_hash, data, max_pixels, max_side, budget)
    if sniff_format(head) == "HEIF":
        _register_heif()
    img = _open(data)
    return _finish(entry, content_hash, img, img.format or "unknown", max_pixels, max_side, budget)


def _decode_raw(
    entry: FileEntry, content_hash: str, data: bytes, max_pixels: int, max_side: int, budget: DecodeBudget | None
) -> Loaded:
    """A camera RAW through its embedded preview, then the same checks as any image."""
    try:
        preview = embedded_preview(data)
    except ImportError as exc:
        raise DecodeError(RAW_INSTALL_HINT) from exc
    except RawPreviewError as exc:
        raise DecodeError(str(exc)) from exc
    img = _open(preview.jpeg) if preview.jpeg is not None else preview.bitmap
    assert img is not None  # a RawPreview holds one or the other
    fmt = raw_format(entry.path)
    return _finish(entry, content_hash, img, fmt, max_pixels, max_side, budget, preview.orientation)


def _open(data: bytes) -> Image.Image:
    try:
        # Image.open reads only the header, so the lock (see warning_guard) is held briefly.
        # We apply our own, explicit limit just below; a JPEG's header includes its
        # EXIF, whose damage Pillow warns about ("Corrupt EXIF data"): not our failure.
        with ignoring_warnings(Image.DecompressionBombWarning, UserWarning):
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise DecodeError(f"refused as a possible decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise DecodeError("not an image, or an image format Pillow cannot read") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise DecodeError(f"corrupt image header: {exc}") from exc


def _finish(
    entry: FileEntry,
    content_hash: str,
    img: Image.Image,
    fmt: str,
    max_pixels: int,
    max_side: int,
    budget: DecodeBudget | None,
    default_orientation: int | None = None,
) -> Loaded:
    """Inflate the opened image within the limits, and read its metadata.

    ``default_orientation`` applies when the image's own EXIF names none
    (a RAW's preview: the orientation is in the RAW header).
    """
    width, height = img.size

    try:
        # JPEG can decode at 1/2, 1/4, 1/8 scale for nearly free; models
        # never need more than max_side pixels.
        img.draft("RGB", (max_side, max_side))
        _check_pixel_limit(img, (width, height), max_pixels)
        reserved = budget.reserve(decode_peak_bytes(img.mode, img.size)) if budget else nullcontext()
        with reserved:
            # Pixels first, outside the warnings lock: for PNG (and WebP)
            # getexif() would read the whole file anyway, since EXIF may follow
            # the pixel data. A truncated file fails here, with one reason.
            img.load()
            # Damaged EXIF is the user's metadata, not a failure of the photo:
            # Pillow warns ("Corrupt EXIF data") and reads what it can.
            with ignoring_warnings(UserWarning):
                exif = img.getexif()
                taken_at = _taken_at(exif)
                # From the opened file, before conversion drops the metadata.
                embedded = embedded_descriptions(img, exif)
                orientation = exif.get(_ORIENTATION) or default_orientation
            if orientation in (5, 6, 7, 8):
                width, height = height, width
            # Smaller first, so that turning and converting copy no full-size image.
            # A new name: the result is a plain Image, no longer the opened file.
            rgb = to_rgb(upright(shrink(img, max_side), orientation))
            rgb.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    except OSError as exc:
        raise DecodeError(f"truncated or corrupt image data: {exc}") from exc
    except (ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DecodeError(f"cannot decode image: {exc}") from exc
    # Set last: to_rgb may build a new image that has no info of the original.
    rgb.info[SOURCE_PATH] = entry.path
    rgb.info[EMBEDDED_DESCRIPTION] = embedded
    return Loaded(entry, content_hash, rgb, width, height, fmt, taken_at, pixel_hash(rgb), picture_hash(rgb))


def _check_pixel_limit(img: Image.Image, header_size: tuple[int, int], max_pixels: int) -> None:
    """Refuse, from the header, an image whose decoded pixels would pass ``max_pixels``."""
    width, height = header_size
    decoded_width, decoded_height = img.size  # smaller than the header's after a JPEG draft
    if decoded_width * decoded_height <= max_pixels:
        return
    at = "" if img.size == header_size else f", decoded at {decoded_width}x{decoded_height}"
    raise DecodeError(
        f"image is {width}x{height} = {width * height:,} pixels{at}, over the limit of "
        f"{max_pixels:,} (possible decompression bomb; the max_pixels setting raises it)"
    )


def _taken_at(exif: Image.Exif) -> str | None:
    """EXIF capture time as 'YYYY-MM-DD HH:MM:SS', or None if absent/garbled."""
    raw = exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S").strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def embedded_descriptions(img: Image.Image, exif: Image.Exif | None = None) -> dict[str, str]:
    """Caption text written into the file by people: ``{"xmp"|"iptc"|"exif": text}``,
    non-empty entries only.

    Works on the image as opened (before conversion). Metadata is the user's
    and often odd, so a part that cannot be parsed is left out; this never
    raises.
    """
    found: dict[str, str] = {}
    for key, read in (
        ("xmp", lambda: _xmp_description(img.info.get("xmp"))),
        ("iptc", lambda: _iptc_caption(img)),
        ("exif", lambda: _exif_description(img.getexif() if exif is None else exif)),
    ):
        try:
            text = read()
        except Exception:  # noqa: BLE001 - metadata must never fail a decode
            text = None
        if text:
            found[key] = text
    return found


def _clean(text: str) -> str:
    return text.replace("\x00", "").strip()


def _xmp_description(packet: bytes | str | None) -> str | None:
    """dc:description from an XMP packet: the x-default entry, else the first."""
    if not packet:
        return None
    raw = packet.encode("utf-8") if isinstance(packet, str) else bytes(packet)
    # No DTDs: XMP never has one, and refusing them rules out entity tricks
    # in files we did not write, without needing defusedxml.
    if len(raw) > _MAX_XMP_BYTES or b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        return None
    root = ET.fromstring(raw.strip(b"\x00 \t\r\n"))
    for desc in root.iter(f"{_NS_DC}description"):
        items = list(desc.iter(f"{_NS_RDF}li"))
        if not items:  # a plain literal instead of the rdf:Alt the spec asks for
            text = _clean("".join(desc.itertext()))
            if text:
                return text
            continue
        items.sort(key=lambda li: li.get(_XML_LANG) != "x-default")  # stable: x-default, then file order
        for li in items:
            text = _clean("".join(li.itertext()))
            if text:
                return text
    # The short form, as an attribute of rdf:Description, is not valid for a
    # language alternative, but some writers use it.
    for node in root.iter(f"{_NS_RDF}Description"):
        text = _clean(node.get(f"{_NS_DC}description", ""))
        if text:
            return text
    return None


def _iptc_caption(img: Image.Image) -> str | None:
    # None for formats other than JPEG and TIFF.
    info = IptcImagePlugin.getiptcinfo(img)  # type: ignore[arg-type]
    if not info:
        return None
    value = info.get(_IPTC_CAPTION)
    if isinstance(value, list):  # not repeatable by the spec; take the first
        value = value[0] if value else None
    if not value:
        return None
    charset = info.get(_IPTC_CHARSET)
    if isinstance(charset, list):
        charset = charset[0] if charset else None
    return _clean(_decode_text(value, utf8_declared=charset == _IPTC_UTF8))


def _exif_description(exif: Image.Exif) -> str | None:
    value = exif.get(_IMAGE_DESCRIPTION)
    if isinstance(value, bytes):
        return _clean(_decode_text(value))
    if not isinstance(value, str):
        return None
    # Pillow reads EXIF ASCII as Latin-1; most writers today put UTF-8 there.
    try:
        value = value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return _clean(value)


def _decode_text(data: bytes, *, utf8_declared: bool = False) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if utf8_declared:
            return data.decode("utf-8", "replace")
        return data.decode("latin-1")
