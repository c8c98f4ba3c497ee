"""Turn any image Pillow decoded into a small 8-bit RGB one, with few full-size copies.

Order matters for memory: shrink first (``reduce`` averages whole blocks of
pixels into a new, small image), then rotate and convert, so that neither
makes another copy at full size. Rotation by EXIF and conversion of high
bit depths are done here rather than by ``ImageOps.exif_transpose`` and
``convert("RGB")``: the first copies the whole image even when nothing
needs turning, and the second clips 16-bit and float pixels to white.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Palette indices and single bits cannot be averaged; reduce() also refuses 16-bit grey.
_NOT_REDUCIBLE = frozenset({"1", "P", "PA"})

# EXIF orientation -> the transpose that shows the photo upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def decode_peak_bytes(mode: str, size: tuple[int, int]) -> int:
    """About the most memory decoding an image of this mode and size takes here: the
    decoded pixels (Pillow keeps 8-bit grey and palette at one byte a pixel, 16-bit
    grey at two, every other mode, RGB included, at four), plus what the conversions
    below need at full size before the image is small."""
    width, height = size
    if mode == "L":
        per_pixel = 1
    elif mode in ("1", "P") or mode.startswith("I;16"):
        per_pixel = 5  # palette to RGB at full size; 16-bit to 16-bit scaled to 8-bit
    elif mode in ("LA", "RGBA", "La", "RGBa"):
        per_pixel = 8  # reduce() averages a premultiplied copy
    elif mode == "PA":
        per_pixel = 12  # RGBA copy and a white background, both at full size
    else:
        per_pixel = 4
    return width * height * per_pixel


def shrink(img: Image.Image, longest_side: int) -> Image.Image:
    """``img`` made smaller by a whole factor, still at least twice ``longest_side`` long,
    so that the final resize has enough pixels to be sharp (as ``thumbnail`` does)."""
    factor = max(img.size) // (2 * longest_side)
    if factor < 2:
        return img
    if img.mode.startswith("I;16"):
        img = to_8bit(img)  # 1 byte a pixel instead of 2, and reducible
    if img.mode in _NOT_REDUCIBLE:
        return img
    return img.reduce(factor)


def to_8bit(img: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float greyscale scaled (not clipped) to an "L" image.

    16-bit modes hold 0..65535. Mode "I" is what 16-bit PNGs and TIFFs became
    in older Pillow, so its range decides: values up to 255 are 8-bit data,
    up to 65535 are 16-bit, anything else is stretched from its own min to
    max. Float ("F") images are most often 0..1, sometimes 0..255 or 16-bit.
    """
    if img.mode == "I;16":
        # A linear point() on 16-bit grey is exact (65535 -> 255, v * 257 -> v)
        # and stays 16-bit, so the conversion to "L" after it has nothing to clip.
        return img.point(lambda value: value / 257).convert("L")
    if img.mode.startswith("I;16"):  # big-endian and the rarer ones, which point() refuses
        wide = np.asarray(img).astype(np.uint32)
        return Image.fromarray(((wide + 128) // 257).astype(np.uint8), "L")
    if img.mode not in ("I", "F"):
        return img
    values = np.asarray(img).astype(np.float32, copy=False)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if low >= 0 and img.mode == "F" and high <= 1.0:
        scale, offset = 255.0, 0.0
    elif low >= 0 and high <= 255:
        scale, offset = 1.0, 0.0
    elif low >= 0 and high <= 65535:
        scale, offset = 1 / 257, 0.0
    else:
        scale = 255.0 / (high - low) if high > low else 0.0
        offset = -low * scale
    scaled = np.clip(np.rint(values * np.float32(scale) + np.float32(offset)), 0, 255)
    return Image.fromarray(scaled.astype(np.uint8), "L")


def upright(img: Image.Image, orientation: object) -> Image.Image:
    """``img`` turned as its EXIF orientation says; the same object when it is upright already."""
    method = _UPRIGHT.get(orientation) if isinstance(orientation, int) else None
    return img if method is None else img.transpose(method)


def to_rgb(img: Image.Image) -> Image.Image:
    """An "RGB" image; transparent areas become white, as a viewer would show them."""
    if img.mode == "RGB":
        return img
    img = to_8bit(img)
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")
