"""A photo library with known duplicates, built from the bundled COCO samples.

One photo in eight variants (resized, re-encoded at q=60, PNG, CMYK, turned
by EXIF, cropped 5%, metadata edited, renamed), a burst of three shots, and
ten unrelated photos, two pairs of them of the same kind of scene (a laptop
on a desk twice, a kitchen twice). ``EXPECTED`` says which files each tier
must group.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

from PIL import Image

from .paths import SAMPLES

ORIGINAL = "000000000790.jpg"  # a family at a table with a birthday cake
BURST_SOURCE = "000000078499.jpg"  # horses on a hill
UNRELATED = (
    "000000084284.jpg",  # a laptop on a desk
    "000000516008.jpg",  # a laptop on a desk, another photo
    "000000177977.jpg",  # a kitchen with a stove
    "000000408805.jpg",  # a kitchen with a stove, another photo
    "000000121647.jpg",
    "000000125870.jpg",
    "000000129648.jpg",
    "000000174375.jpg",
    "000000196393.jpg",
    "000000358083.jpg",
)

SAME_PICTURE = (
    "cake/original.jpg",
    "cake/resized.jpg",
    "cake/q60.jpg",
    "cake/as.png",
    "cake/cmyk.jpg",
    "cake/exif-rotated.jpg",
    "cake/cropped.jpg",
    "cake/metadata-edited.jpg",
    "backup/copy of original.jpg",
)
EXACT = ("cake/original.jpg", "backup/copy of original.jpg")
BURST = ("burst/IMG_0001.jpg", "burst/IMG_0002.jpg", "burst/IMG_0003.jpg")

#: Relative paths each tier must group, one set per group.
EXPECTED = {
    "exact": [set(EXACT)],
    "same": [set(SAME_PICTURE)],
    "similar": [set(BURST)],
}

_DATETIME_ORIGINAL = 0x9003
_EXIF_IFD = 0x8769
_ORIENTATION = 0x0112


def _exif(taken: str, orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif.get_ifd(_EXIF_IFD)[_DATETIME_ORIGINAL] = taken
    if orientation is not None:
        exif[_ORIENTATION] = orientation
    return exif


def _jpeg(img: Image.Image, path: Path, *, quality: int = 92, exif: Image.Exif | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG", quality=quality, exif=exif if exif is not None else Image.Exif())


def _with_comment(jpeg: bytes, text: bytes) -> bytes:
    """The same JPEG with a comment segment after SOI: other bytes, identical pixels (an edit of metadata only)."""
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text + jpeg[2:]


def build(root: Path) -> Path:
    """Write the library under ``root``; returns ``root``. File times: the original is the oldest."""
    taken = "2023:05:01 12:00:00"
    cake = Image.open(SAMPLES / ORIGINAL).convert("RGB")
    w, h = cake.size
    original = root / "cake" / "original.jpg"
    _jpeg(cake, original, exif=_exif(taken))
    _jpeg(cake.resize((w // 2, h // 2), Image.Resampling.LANCZOS), root / "cake" / "resized.jpg", exif=_exif(taken))
    _jpeg(cake, root / "cake" / "q60.jpg", quality=60, exif=_exif(taken))
    cake.save(root / "cake" / "as.png", "PNG")
    cmyk = root / "cake" / "cmyk.jpg"
    cake.convert("CMYK").save(cmyk, "JPEG", quality=92, exif=_exif(taken))
    # Stored on its side; orientation 6 tells a viewer (and picscribe) to turn it upright.
    _jpeg(cake.transpose(Image.Transpose.ROTATE_90), root / "cake" / "exif-rotated.jpg", exif=_exif(taken, 6))
    dx, dy = round(w * 0.025), round(h * 0.025)
    _jpeg(cake.crop((dx, dy, w - dx, h - dy)), root / "cake" / "cropped.jpg", exif=_exif(taken))
    edited = _with_comment(original.read_bytes(), b"edited in a photo manager: rating 5")
    (root / "cake" / "metadata-edited.jpg").write_bytes(edited)
    (root / "backup").mkdir()
    shutil.copyfile(original, root / "backup" / "copy of original.jpg")

    # A burst: the camera pans across the scene, a shot a second.
    horses = Image.open(SAMPLES / BURST_SOURCE).convert("RGB")
    bw, bh = horses.size
    span = round(bw * 0.8)
    for k, name in enumerate(BURST):
        left = round(bw * 0.1 * k)
        _jpeg(horses.crop((left, 0, left + span, bh)), root / name, exif=_exif(f"2023:06:10 15:30:0{k}"))

    (root / "other").mkdir()
    for name in UNRELATED:
        shutil.copyfile(SAMPLES / name, root / "other" / name)

    # Oldest first: the original, then the rest in the order written.
    stamp = 1_600_000_000
    for k, path in enumerate(sorted(root.rglob("*"), key=lambda p: (p != original, str(p)))):
        if path.is_file():
            os.utime(path, (stamp + k * 60, stamp + k * 60))
    return root
