"""Drop the PNG metadata chunks Pillow refuses to read, so the pixels can still be read.

Pillow refuses a whole PNG whose compressed text (zTXt, iTXt) or colour
profile (iCCP) inflates past ``PngImagePlugin.MAX_TEXT_CHUNK``, or whose text
adds up past ``MAX_TEXT_MEMORY``: a guard against zip bombs. Raising those
limits would change Pillow for every thread; a copy of the file without the
offending chunks changes nothing else. Every chunk kept keeps its own CRC.
"""

from __future__ import annotations

import struct
import zlib

from PIL import PngImagePlugin

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT = frozenset({b"tEXt", b"zTXt", b"iTXt"})


def without_oversize_metadata(data: bytes) -> bytes | None:
    """``data`` without the chunks Pillow would refuse, or None if there are none (or it is no PNG)."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    kept = [PNG_SIGNATURE]
    dropped = False
    text_bytes = 0
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = min(len(data), pos + 12 + length)
        body = data[pos + 8 : pos + 8 + length]
        inflated = _inflated_size(kind, body)
        too_big = inflated is not None and inflated > PngImagePlugin.MAX_TEXT_CHUNK
        if kind in _TEXT and not too_big:
            text_bytes += inflated if inflated is not None else length
            too_big = text_bytes > PngImagePlugin.MAX_TEXT_MEMORY
        if too_big:
            dropped = True
        else:
            kept.append(data[pos:end])
        pos = end
    kept.append(data[pos:])  # a trailing fragment stays, for Pillow to judge as before
    return b"".join(kept) if dropped else None


def _inflated_size(kind: bytes, body: bytes) -> int | None:
    """Bytes the chunk's compressed part inflates to, counting no further than just past
    the limit; None for a chunk with nothing compressed."""
    if kind == b"zTXt" or kind == b"iCCP":
        name_end = body.find(b"\0")
        compressed = body[name_end + 2 :] if name_end >= 0 else b""
    elif kind == b"iTXt":
        name_end = body.find(b"\0")
        if name_end < 0 or body[name_end + 1 : name_end + 2] != b"\x01":
            return None
        # keyword\0, flag, method, language\0, translated keyword\0, text
        language_end = body.find(b"\0", name_end + 3)
        translated_end = body.find(b"\0", language_end + 1) if language_end >= 0 else -1
        compressed = body[translated_end + 1 :] if translated_end >= 0 else b""
    else:
        return None
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(compressed, PngImagePlugin.MAX_TEXT_CHUNK + 1)
    except zlib.error:
        return None  # Pillow judges a broken stream itself
    return len(out)
