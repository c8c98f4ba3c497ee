"""Camera, capture time and place, read from a photo's EXIF when it is shown."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from picscribe.indexer.regular_file import open_regular_file
from picscribe.indexer.warning_guard import ignoring_warnings

_MAKE, _MODEL, _DATETIME = 0x010F, 0x0110, 0x0132
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL = 0x9003
_LAT_REF, _LAT, _LON_REF, _LON = 1, 2, 3, 4


@dataclass(frozen=True)
class PhotoExif:
    taken: str | None = None
    camera: str | None = None
    latitude: float | None = None
    longitude: float | None = None

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
    taken = _text(sub.get(_DATETIME_ORIGINAL)) or _text(exif.get(_DATETIME))
    if taken and len(taken) >= 10:
        taken = taken[:10].replace(":", "-") + taken[10:]  # "2024:07:31 18:00:00" -> ISO date
    return PhotoExif(
        taken=taken,
        camera=_camera(_text(exif.get(_MAKE)), _text(exif.get(_MODEL))),
        latitude=_coordinate(gps.get(_LAT), gps.get(_LAT_REF), "S"),
        longitude=_coordinate(gps.get(_LON), gps.get(_LON_REF), "W"),
    )


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value or None


def _camera(make: str | None, model: str | None) -> str | None:
    if make and model and model.lower().startswith(make.lower()):
        return model  # "Canon" + "Canon EOS R5" reads once
    return " ".join(x for x in (make, model) if x) or None


def _coordinate(dms: object, ref: object, negative: str) -> float | None:
    # Degrees, minutes, seconds as three rationals; damaged EXIF holds anything.
    if not isinstance(dms, (tuple, list)):
        return None
    try:
        d, m, s = (float(x) for x in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60 + s / 3600
    return -value if _text(ref) == negative else value
