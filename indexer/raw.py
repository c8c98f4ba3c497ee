"""Camera RAW files, read through the JPEG preview that the camera embeds.

A caption needs a picture, not a developed negative: the preview is what the
camera showed on its screen, already white-balanced and small, and reading it
costs a fraction of demosaicing the sensor data. ``rawpy`` (LibRaw) finds the
preview; it is an optional extra, so without it a RAW file fails with a
reason that says how to get it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .sniff import RAW_EXTENSIONS

INSTALL_HINT = "RAW files need `pip install 'picscribe[raw]'`"

# LibRaw's flip (from the RAW's own header) as an EXIF orientation: the
# embedded preview is stored as the sensor saw it and rarely says how to turn.
_FLIP_TO_ORIENTATION = {3: 3, 5: 8, 6: 6}


class RawPreviewError(Exception):
    """No usable preview; the message says why, for humans."""


@dataclass(frozen=True)
class RawPreview:
    # JPEG bytes, to be decoded like any JPEG (with draft scaling and our
    # pixel limit), or an RGB bitmap that LibRaw has already unpacked.
    jpeg: bytes | None
    bitmap: Image.Image | None
    # EXIF orientation implied by the RAW header, or None when upright.
    orientation: int | None


def raw_format(path: str) -> str:
    """The name recorded as the file's format, e.g. 'DNG' or 'CR2'."""
    suffix = path.rsplit(".", 1)[-1].upper() if "." in path else "RAW"
    return suffix if "." + suffix.lower() in RAW_EXTENSIONS else "RAW"


def embedded_preview(data: bytes) -> RawPreview:
    """The preview image embedded in a RAW file's bytes.

    Raises ImportError when rawpy is missing, RawPreviewError when the file
    is not a RAW LibRaw can read or holds no preview it can extract.
    """
    import rawpy  # an optional extra; ImportError tells the caller to say so

    try:
        # From the bytes already read and hashed, not from the path again.
        with rawpy.imread(io.BytesIO(data)) as raw:
            orientation = _FLIP_TO_ORIENTATION.get(raw.sizes.flip)
            thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError) as exc:
        raise RawPreviewError("RAW file has no embedded preview picscribe can read") from exc
    except rawpy.LibRawFileUnsupportedError as exc:
        raise RawPreviewError("not a RAW file, or a RAW format LibRaw cannot read") from exc
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise RawPreviewError(f"corrupt RAW file: {exc}") from exc
    if thumb.format == rawpy.ThumbFormat.JPEG:
        return RawPreview(bytes(thumb.data), None, orientation)
    pixels = np.asarray(thumb.data)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise RawPreviewError(f"RAW preview has an unexpected layout {pixels.shape} {pixels.dtype}")
    return RawPreview(None, Image.fromarray(pixels, "RGB"), orientation)
