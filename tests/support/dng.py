"""A tiny DNG written by hand: a Bayer raw image and an embedded JPEG preview.

No camera file ships with the test suite and tifffile is not a dependency, so
the few TIFF tags that LibRaw needs are written here. The raw pixels are flat
grey; only the preview, the part picscribe reads, carries the picture.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

from PIL import Image

_SHORT, _LONG, _BYTE, _ASCII, _SRATIONAL = 3, 4, 1, 2, 10
_SIZES = {_BYTE: 1, _ASCII: 1, _SHORT: 2, _LONG: 4, _SRATIONAL: 8}


def _ifd(entries: list[tuple[int, int, list[int] | bytes]], at: int, next_ifd: int) -> bytes:
    """One IFD placed at offset ``at``; values that do not fit in 4 bytes follow it."""
    entries = sorted(entries)
    head = struct.pack("<H", len(entries))
    tail = b""
    data_at = at + 2 + 12 * len(entries) + 4
    for tag, kind, values in entries:
        if kind in (_BYTE, _ASCII):
            raw = bytes(values)
        elif kind == _SHORT:
            raw = struct.pack(f"<{len(values)}H", *values)
        elif kind == _LONG:
            raw = struct.pack(f"<{len(values)}I", *values)
        else:  # SRATIONAL: pairs of numerator, denominator
            raw = struct.pack(f"<{len(values)}i", *values)
        count = len(raw) // _SIZES[kind]
        if len(raw) <= 4:
            field = raw.ljust(4, b"\x00")
        else:
            field = struct.pack("<I", data_at + len(tail))
            tail += raw + (b"\x00" if len(raw) % 2 else b"")
        head += struct.pack("<HHI", tag, kind, count) + field
    return head + struct.pack("<I", next_ifd) + tail


def _ifd_size(entries: list[tuple[int, int, list[int] | bytes]]) -> int:
    return len(_ifd(entries, 0, 0))


def write_dng(path: Path, preview: Image.Image, *, raw_size: tuple[int, int] = (64, 48)) -> Path:
    """Write a DNG whose embedded preview is ``preview`` (as a JPEG)."""
    jpeg = io.BytesIO()
    preview.convert("RGB").save(jpeg, "JPEG", quality=90)
    jpeg_bytes = jpeg.getvalue()
    width, height = raw_size
    pixels = struct.pack(f"<{width * height}H", *([2048] * (width * height)))

    def raw_entries(strip_at: int) -> list[tuple[int, int, list[int] | bytes]]:
        return [
            (254, _LONG, [0]),
            (256, _LONG, [width]),
            (257, _LONG, [height]),
            (258, _SHORT, [16]),
            (259, _SHORT, [1]),
            (262, _SHORT, [32803]),  # CFA
            (271, _ASCII, b"picscribe\x00"),
            (272, _ASCII, b"test camera\x00"),
            (273, _LONG, [strip_at]),
            (274, _SHORT, [1]),
            (277, _SHORT, [1]),
            (278, _LONG, [height]),
            (279, _LONG, [len(pixels)]),
            (284, _SHORT, [1]),
            (33421, _SHORT, [2, 2]),
            (33422, _BYTE, [0, 1, 1, 2]),  # RGGB
            (50706, _BYTE, [1, 4, 0, 0]),
            (50708, _ASCII, b"picscribe test camera\x00"),
            (50721, _SRATIONAL, [1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1]),
            (50778, _SHORT, [21]),
        ]

    def preview_entries(jpeg_at: int) -> list[tuple[int, int, list[int] | bytes]]:
        return [
            (254, _LONG, [1]),
            (256, _LONG, [preview.width]),
            (257, _LONG, [preview.height]),
            (258, _SHORT, [8, 8, 8]),
            (259, _SHORT, [7]),
            (262, _SHORT, [6]),
            (273, _LONG, [jpeg_at]),
            (277, _SHORT, [3]),
            (278, _LONG, [preview.height]),
            (279, _LONG, [len(jpeg_bytes)]),
        ]

    raw_ifd_at = 8
    preview_ifd_at = raw_ifd_at + _ifd_size(raw_entries(0))
    jpeg_at = preview_ifd_at + _ifd_size(preview_entries(0))
    strip_at = jpeg_at + len(jpeg_bytes)
    out = b"II*\x00" + struct.pack("<I", raw_ifd_at)
    out += _ifd(raw_entries(strip_at), raw_ifd_at, preview_ifd_at)
    out += _ifd(preview_entries(jpeg_at), preview_ifd_at, 0)
    assert len(out) == jpeg_at
    path.write_bytes(out + jpeg_bytes + pixels)
    return path
