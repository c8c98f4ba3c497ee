"""A perceptual hash of the decoded picture: the "same picture" tier of duplicates.

Two files hold the same picture when a person would call one a copy of the
other: resized, re-encoded, converted (CMYK to RGB, PNG to JPEG), turned by
its EXIF orientation, lightly cropped, or with its metadata edited. Their
bytes (SHA-256) and decoded pixels differ; this 64-bit DCT hash (pHash)
barely does. The Hamming distance that still counts as "the same picture"
is measured, not guessed: see ``picscribe.store.SAME_PICTURE_MAX_BITS`` and
``bench/duplicates.py``.

Computed with numpy on the image decoding already has in hand (upright,
RGB, at most ``max_side`` pixels): ``imagehash`` is not a dependency, and
no file is read twice.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

#: Side of the grey thumbnail the DCT runs on, and of the block of lowest
#: frequencies kept (8 x 8 = 64 bits), as in the usual pHash.
_THUMB_SIDE = 32
_KEPT = 8

#: Bytes in a picture hash.
PICTURE_HASH_BYTES = _KEPT * _KEPT // 8

#: The hash of a (nearly) flat picture: a blank page, a solid colour. Its
#: DCT has nothing but rounding noise to compare, so every such picture would
#: hash alike whatever its colour; instead it is the same picture as nothing
#: (only exact copies group it). Empty, not None: None means "not computed".
FLAT = b""
#: Below this standard deviation of the grey thumbnail (0..255) a picture is flat.
_FLAT_BELOW = 2.0


def _dct_rows(n: int, kept: int) -> np.ndarray:
    """The first ``kept`` rows of the orthonormal DCT-II matrix of size ``n``
    (what ``scipy.fft.dct(norm="ortho")`` multiplies by)."""
    k = np.arange(kept)[:, None]
    x = np.arange(n)[None, :]
    rows = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2 / n)
    rows[0] /= np.sqrt(2)
    return rows


_DCT = _dct_rows(_THUMB_SIDE, _KEPT)


def picture_hash(img: Image.Image) -> bytes:
    """The 64-bit perceptual hash of ``img``, as 8 bytes (most significant bit first);
    ``FLAT`` (empty) for a picture with no detail to compare.

    BOX resampling averages every pixel into the thumbnail: in a comparison on
    80 COCO photos while choosing, it kept 5%-cropped copies closer to their
    original than LANCZOS did (90% within 8 bits instead of 87.5%), with
    different photos as far apart.
    """
    grey = img.convert("L").resize((_THUMB_SIDE, _THUMB_SIDE), Image.Resampling.BOX)
    pixels = np.asarray(grey, dtype=np.float64)
    if pixels.std() < _FLAT_BELOW:
        return FLAT
    # The 8 x 8 lowest frequencies of the 2-D DCT: rows, then columns.
    low = (_DCT @ pixels @ _DCT.T).ravel()
    # The median leaves out the DC term (the mean brightness), which dwarfs the rest.
    bits = low > np.median(low[1:])
    return np.packbits(bits).tobytes()


def hamming(a: bytes, b: bytes) -> int:
    """How many bits differ between two picture hashes."""
    return int.from_bytes(a, "big").__xor__(int.from_bytes(b, "big")).bit_count()
