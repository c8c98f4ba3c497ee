"""Where and with what a photo was taken, as its EXIF says: GPS coordinates
and the camera's make and model.

Only the file's header is read (Pillow parses EXIF on open), never its
pixels, so filling this in for an index made before places existed costs
a fraction of a decode and nothing of a caption. Damaged GPS is the user's
metadata, not a failure of the photo: it gives a reason, and the photo is
indexed without a place.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from .regular_file import open_regular_file
from .warning_guard import ignoring_warnings

_MAKE, _MODEL = 0x010F, 0x0110
_GPS_IFD = 0x8825
_LAT_REF, _LAT, _LON_REF, _LON = 1, 2, 3, 4


@dataclass(frozen=True)
class ExifFacts:
    """What one file's EXIF says; all None when it says nothing (or has no EXIF)."""

    latitude: float | None = None
    longitude: float | None = None
    #: Why GPS that is there was not used ("latitude 123.0 is beyond ±90"); None when fine or absent.
    gps_problem: str | None = None
    camera_make: str | None = None
    camera_model: str | None = None

    @property
    def camera(self) -> str | None:
        return camera_name(self.camera_make, self.camera_model)


class ExifUnreadable(Exception):
    """The file cannot be opened as an image now (gone, replaced, damaged)."""


def read_exif_facts(path: str) -> ExifFacts:
    """GPS and camera from ``path``'s EXIF; ExifUnreadable when the file cannot be opened."""
    try:
        # Never a plain open(): a FIFO put where the photo was would block it for ever.
        f, _ = open_regular_file(path)
        with f:
            with ignoring_warnings(Image.DecompressionBombWarning, UserWarning):
                img = Image.open(f)
            if isinstance(img, PngImagePlugin.PngImageFile) and "exif" not in img.info:
                # Pillow would inflate every pixel looking for EXIF after them:
                # a PNG whose EXIF (rare) is not ahead of its pixels is read as having none.
                return ExifFacts()
            # Pillow warns about damaged EXIF ("Corrupt EXIF data") and reads what it can.
            with ignoring_warnings(UserWarning):
                exif = img.getexif()
                gps = exif.get_ifd(_GPS_IFD)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ExifUnreadable(str(exc) or type(exc).__name__) from exc
    return facts_from_exif(exif, gps)


def facts_from_exif(exif: Image.Exif, gps: dict[int, object]) -> ExifFacts:
    """The facts in an opened image's EXIF and its GPS IFD."""
    latitude, longitude, problem = gps_coordinates(gps)
    return ExifFacts(latitude, longitude, problem, exif_text(exif.get(_MAKE)), exif_text(exif.get(_MODEL)))


def gps_coordinates(gps: dict[int, object]) -> tuple[float | None, float | None, str | None]:
    """(latitude, longitude, None), or (None, None, why) for GPS that is there but
    cannot be used; (None, None, None) for a photo without GPS."""
    if _LAT not in gps and _LON not in gps:
        return None, None, None
    lat, lat_problem = _coordinate(gps.get(_LAT), gps.get(_LAT_REF), "latitude", ("N", "S"), 90)
    lon, lon_problem = _coordinate(gps.get(_LON), gps.get(_LON_REF), "longitude", ("E", "W"), 180)
    problem = lat_problem or lon_problem
    if problem is not None or lat is None or lon is None:
        return None, None, problem or "GPS has no latitude or no longitude"
    if lat == 0 and lon == 0:
        # What a camera writes when it had no fix: a point in the Gulf of Guinea.
        return None, None, "GPS position is 0, 0 (a camera without a fix)"
    return lat, lon, None


def _coordinate(
    dms: object, ref: object, name: str, refs: tuple[str, str], limit: float
) -> tuple[float | None, str | None]:
    """Degrees, minutes, seconds as three rationals, signed by the reference
    letter; (None, why) for what damaged EXIF holds instead."""
    if dms is None:
        return None, f"GPS {name} is missing"
    if not isinstance(dms, tuple | list) or len(dms) != 3 or not all(isinstance(x, numbers.Real) for x in dms):
        return None, f"GPS {name} is not three numbers (degrees, minutes, seconds): {dms!r}"[:200]
    try:
        d, m, s = (float(x) for x in dms)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None, f"GPS {name} holds a malformed number: {dms!r}"[:200]
    if not all(math.isfinite(x) for x in (d, m, s)):
        return None, f"GPS {name} holds a malformed number (a zero denominator?): {dms!r}"[:200]
    if min(d, m, s) < 0:
        return None, f"GPS {name} has a negative degree, minute or second: {dms!r}"[:200]
    value = d + m / 60 + s / 3600
    if value > limit:
        return None, f"GPS {name} {value:g} is beyond ±{limit:g}"
    letter = exif_text(ref)
    if letter is not None and letter.upper() not in refs:
        return None, f"GPS {name} reference is {letter!r}, not {refs[0]} or {refs[1]}"
    return (-value if letter is not None and letter.upper() == refs[1] else value), None


def exif_text(value: object) -> str | None:
    """An EXIF string value, NULs and blanks stripped; None for anything else."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value or None


def camera_name(make: str | None, model: str | None) -> str | None:
    """ "Canon" + "Canon EOS R5" -> "Canon EOS R5"; "NIKON CORPORATION" + "NIKON D750" -> "Nikon D750"."""
    brand = _brand(make) if make else None
    if brand and model and model.lower().startswith(brand.lower()):
        model = model[len(brand) :].strip()  # the make, said once
    return " ".join(x for x in (brand, model) if x) or None


_COMPANY_WORDS = frozenset({"corporation", "corp", "corp.", "co.", "co.,ltd.", "ltd", "ltd.", "inc", "inc.", "imaging"})


def _brand(make: str) -> str:
    # Makers write their legal names ("OLYMPUS IMAGING CORP.", "NIKON CORPORATION")
    # in capitals; people say "Olympus" and "Nikon". Short acronyms (HTC, DJI, LG) stay as they are.
    words = [w for w in make.split() if w.lower().rstrip(",") not in _COMPANY_WORDS] or make.split()
    return " ".join(w.capitalize() if w.isupper() and len(w) > 3 else w for w in words)
