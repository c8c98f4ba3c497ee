"""Camera, capture time and place, read from a photo's EXIF when it is shown."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from picscribe.indexer.photo_details import exif_text, facts_from_exif
from picscribe.indexer.regular_file import open_regular_file
from picscribe.indexer.warning_guard import ignoring_warnings

_DATETIME = 0x0132
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL = 0x9003
_EXPOSURE_TIME, _F_NUMBER, _ISO, _FOCAL_LENGTH, _LENS_MODEL = 0x829A, 0x829D, 0x8827, 0x920A, 0xA434


@dataclass(frozen=True)
class PhotoExif:
    taken: str | None = None
    camera: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    #: How it was taken, ready to show: "f/1.8", "1/250 s", "ISO 400", "50 mm", the lens's name.
    aperture: str | None = None
    shutter: str | None = None
    iso: str | None = None
    focal_length: str | None = None
    lens: str | None = None

    @property
    def exposure(self) -> str | None:
        """ "f/1.8 · 1/250 s · ISO 400 · 50 mm", or None when EXIF says none of it."""
        parts = [x for x in (self.aperture, self.shutter, self.iso, self.focal_length) if x]
        return " · ".join(parts) or None

    @property
    def place(self) -> str | None:
        if self.latitude is None or self.longitude is None:
            return None
        return f"{self.latitude:.5f}, {self.longitude:.5f}"

    @property
    def map_url(self) -> str | None:
        if self.place is None:
            return None
        return f"https://www.openstreetmap.org/?mlat={self.latitude:.5f}&mlon={self.longitude:.5f}#map=15"


def read_exif(path: str) -> PhotoExif:
    """What EXIF says; an empty PhotoExif for a file without it or that cannot be read."""
    try:
        # Never a plain open(): a FIFO put where the photo was would block it for ever.
        f, _ = open_regular_file(path)
        with f:
            # Opening a JPEG reads its EXIF already (for its DPI).
            with ignoring_warnings(Image.DecompressionBombWarning, UserWarning):
                img = Image.open(f)
            if isinstance(img, PngImagePlugin.PngImageFile):
                # EXIF may follow a PNG's pixels, so getexif() would read them
                # all: do that outside the lock below, which others wait on.
                img.load()
            # Pillow warns about damaged EXIF ("Corrupt EXIF data") and reads what it can.
            with ignoring_warnings(UserWarning):
                exif = img.getexif()
                sub = exif.get_ifd(_EXIF_IFD)
                gps = exif.get_ifd(_GPS_IFD)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError):
        return PhotoExif()
    facts = facts_from_exif(exif, gps)
    taken = exif_text(sub.get(_DATETIME_ORIGINAL)) or exif_text(exif.get(_DATETIME))
    if taken and len(taken) >= 10:
        taken = taken[:10].replace(":", "-") + taken[10:]  # "2024:07:31 18:00:00" -> ISO date
    return PhotoExif(
        taken=taken,
        # The indexer's reading: the same camera name, and GPS it would not
        # use (beyond ±90, a zero denominator, 0,0) is not put on a map either.
        camera=facts.camera,
        latitude=facts.latitude,
        longitude=facts.longitude,
        aperture=_formatted(sub.get(_F_NUMBER), lambda f: f"f/{f:g}" if f > 0 else None),
        shutter=_formatted(sub.get(_EXPOSURE_TIME), _shutter),
        iso=_formatted(_first(sub.get(_ISO)), lambda n: f"ISO {n:.0f}" if n > 0 else None),
        focal_length=_formatted(sub.get(_FOCAL_LENGTH), lambda mm: f"{mm:.0f} mm" if mm > 0 else None),
        lens=exif_text(sub.get(_LENS_MODEL)),
    )


def _first(value: object) -> object:
    # ISO may be stored as a list of values; the first is the one used.
    return value[0] if isinstance(value, (tuple, list)) and value else value


def _formatted(value: object, show: Callable[[float], str | None]) -> str | None:
    """A number from EXIF, shown by ``show``; None for a missing or damaged value."""
    if not isinstance(value, numbers.Real):  # Pillow's IFDRational is one; damaged EXIF holds anything
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return show(number) if math.isfinite(number) else None


def _shutter(seconds: float) -> str | None:
    if seconds <= 0:
        return None
    if seconds < 1:
        return f"1/{round(1 / seconds)} s"  # how cameras name it: 1/250 s, not 0.004 s
    return f"{seconds:g} s"
