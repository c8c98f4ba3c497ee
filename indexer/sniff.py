"""Recognise image files by their first bytes, not by their names."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .regular_file import open_regular_file

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif"}
)
SNIFF_BYTES = 32

# ISO-BMFF brands used by HEIF/AVIF files (bytes 8..12 after "ftyp").
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}


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
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "AVIF" if head[8:12] in (b"avif", b"avis") else "HEIF"
    return None


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
