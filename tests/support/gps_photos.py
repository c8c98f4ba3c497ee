"""Photos with GPS and camera EXIF, written with Pillow (GPS IFD 0x8825)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path

from PIL import Image, ImageDraw, TiffImagePlugin

_MAKE, _MODEL, _GPS_IFD = 0x010F, 0x0110, 0x8825

LISBON = (38.7223, -9.1393)
TOKYO = (35.6762, 139.6503)
#: The North Atlantic, 1,000 km from the nearest island.
MID_OCEAN = (30.0, -40.0)


def dms(value: float) -> tuple[TiffImagePlugin.IFDRational, ...]:
    """Degrees, minutes, seconds as EXIF rationals, the way cameras write them."""
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600 * 100)
    return (
        TiffImagePlugin.IFDRational(degrees, 1),
        TiffImagePlugin.IFDRational(minutes, 1),
        TiffImagePlugin.IFDRational(seconds, 100),
    )


def gps_ifd(lat: float, lon: float) -> dict[int, object]:
    return {1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W", 4: dms(lon)}


def write_photo(
    path: Path,
    *,
    gps: Mapping[int, object] | None = None,
    make: str | None = None,
    model: str | None = None,
    spot: int = 0,
    rgb: tuple[int, int, int] = (200, 40, 40),
) -> Path:
    """A mostly-``rgb`` JPEG (the fake captioner words all alike) with dark
    squares placed by ``spot``, so each is a picture of its own (search folds
    copies of one picture into one hit), and the EXIF given."""
    img = Image.new("RGB", (96, 64), rgb)
    draw = ImageDraw.Draw(img)
    shapes = random.Random(spot)
    for _ in range(6):
        x, y = shapes.randrange(0, 80), shapes.randrange(0, 48)
        draw.rectangle((x, y, x + 14, y + 14), fill=(rgb[0] // 2, rgb[1] // 2, rgb[2] // 2))
    exif = Image.Exif()
    if make:
        exif[_MAKE] = make
    if model:
        exif[_MODEL] = model
    if gps is not None:
        exif[_GPS_IFD] = dict(gps)
    img.save(path, "JPEG", exif=exif, quality=90)
    return path
