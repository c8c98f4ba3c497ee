"""Recognise image files by their first bytes, not by their names."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .regular_file import open_regular_file

# Camera RAW files, read through their embedded preview (see indexer.raw).
# Most are TIFF inside, so they are recognised by name, not by content.
RAW_EXTENSIONS = frozenset({".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".rw2", ".orf"})
# A JPEG with the same name beside a RAW is the picture to index (rclip's rule).
JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe"})
IMAGE_EXTENSIONS = (
    frozenset({".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif"})
    | JPEG_EXTENSIONS
    | RAW_EXTENSIONS
)
SNIFF_BYTES = 32

# ISO-BMFF brands used by HEIF/AVIF files (bytes 8..12 after "ftyp").
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
_AVIF_BRANDS = {b"avif", b"avis"}
# RAW formats whose first bytes are their own (not plain TIFF).
_RAW_MAGIC = (b"FUJIFILMCCD-RAW", b"IIU\x00", b"IIRO", b"IIRS", b"MMOR")


def sniff_format(head: bytes) -> str | None:
    """The image format named by a file's first bytes, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM":
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[4:8] == b"ftyp" and head[8:12] == b"crx ":
        return "RAW"  # Canon CR3
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "AVIF" if is_avif(head) else "HEIF"
    if head.startswith(_RAW_MAGIC):
        return "RAW"
    return None


def is_avif(head: bytes) -> bool:
    """True for an ISO-BMFF file that is AVIF: by its major brand or, for a
    plain "mif1" file, by a compatible brand listed in its ftyp box."""
    if head[4:8] != b"ftyp":
        return False
    box_end = min(int.from_bytes(head[:4], "big"), len(head))
    brands = [head[8:12]] + [head[i : i + 4] for i in range(16, box_end - 3, 4)]
    return any(brand in _AVIF_BRANDS for brand in brands)


def is_raw(path: Path | str, head: bytes) -> bool:
    """True for a camera RAW file: by its name (DNG, CR2, NEF and ARW are
    TIFF inside) or by first bytes that only RAW files have."""
    return Path(path).suffix.lower() in RAW_EXTENSIONS or sniff_format(head) == "RAW"


def has_image_extension(path: Path | str) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def looks_like_image(path: Path) -> bool:
    """True if the file's content says it is an image (reads 32 bytes).

    Only a regular file is opened: opening a FIFO blocks until a writer comes
    (a watcher would hang for good), and a device can be read forever. The
    open itself does not block (O_NONBLOCK), and the opened file is checked
    again, in case something else was put at the path after the stat.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        f, _ = open_regular_file(path)
    except OSError:
        return False
    try:
        with f:
            return sniff_format(f.read(SNIFF_BYTES)) is not None
    except OSError:
        return False
