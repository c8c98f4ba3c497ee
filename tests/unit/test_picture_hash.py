"""The perceptual hash behind the "same picture" tier, the search for hashes
within a few bits of each other, and the collapsing of copies in search."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from picscribe.indexer.picture_hash import FLAT, PICTURE_HASH_BYTES, hamming, picture_hash
from picscribe.search import Hit
from picscribe.search.collapse import collapse_copies
from picscribe.store import _near_pairs, as_codes, components, near_pairs


def _photo(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A smooth random picture: blobs of colour, like a photo's low frequencies."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return Image.fromarray(small, "RGB").resize(size, Image.Resampling.BICUBIC)


def test_hash_is_eight_bytes_and_deterministic() -> None:
    img = _photo(1)
    assert len(picture_hash(img)) == PICTURE_HASH_BYTES == 8
    assert picture_hash(img) == picture_hash(img.copy())


@pytest.mark.parametrize(
    "change",
    [
        lambda im: im.resize((160, 120), Image.Resampling.LANCZOS),
        lambda im: im.resize((1280, 960), Image.Resampling.BICUBIC),
        lambda im: im.convert("CMYK").convert("RGB"),
        lambda im: im.convert("L"),
        lambda im: im.point(lambda v: min(255, int(v * 1.1))),
    ],
    ids=["smaller", "larger", "cmyk", "grey", "brighter"],
)
def test_a_copy_of_the_same_picture_stays_within_a_few_bits(change) -> None:
    img = _photo(2)
    assert hamming(picture_hash(img), picture_hash(change(img))) <= 2


def test_a_turned_or_different_picture_is_far() -> None:
    img = _photo(3)
    # The index hashes the upright picture; one left on its side is another picture.
    assert hamming(picture_hash(img), picture_hash(img.transpose(Image.Transpose.ROTATE_90))) > 12
    others = [picture_hash(_photo(seed)) for seed in range(10, 30)]
    distances = [hamming(a, b) for k, a in enumerate(others) for b in others[k + 1 :]]
    assert min(distances) > 12


def test_a_flat_picture_has_an_empty_hash_and_is_nobody_s_copy() -> None:
    # Solid colours hash alike (their DCT is rounding noise), whatever the colour.
    red, blue = Image.new("RGB", (64, 48), (200, 40, 40)), Image.new("RGB", (64, 48), (40, 70, 200))
    assert picture_hash(red) == picture_hash(blue) == FLAT == b""
    hits = [_hit("red.png", 0.9), _hit("blue.png", 0.8)]
    cards = collapse_copies(hits, ["hr", "hb"], {"hr": FLAT, "hb": FLAT}, limit=10)
    assert [(c.path, c.copies) for c in cards] == [("red.png", ()), ("blue.png", ())]


def test_hamming_counts_differing_bits() -> None:
    assert hamming(b"\x00" * 8, b"\x00" * 8) == 0
    assert hamming(b"\xff" * 8, b"\x00" * 8) == 64
    assert hamming(b"\x01" + b"\x00" * 7, b"\x00" * 7 + b"\x80") == 2
    assert as_codes([b"\x80" + b"\x00" * 7]).tolist() == [1 << 63]


def _codes_with_near_copies(n: int, seed: int) -> np.ndarray:
    """n random hashes plus copies of some of them 0 to 12 bits away."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, n, dtype=np.uint64)
    copies = codes[: n // 4].copy()
    for k in range(len(copies)):
        for bit in rng.choice(64, k % 13, replace=False):
            copies[k] ^= np.uint64(1) << np.uint64(int(bit))
    return np.concatenate([codes, copies])


@pytest.mark.parametrize("max_bits", [0, 4, 8, 10])
def test_near_pairs_finds_exactly_the_pairs_all_pairs_finds(max_bits: int) -> None:
    # Above _ALL_PAIRS_UP_TO, so the chunk tables answer, checked against every pair.
    codes = _codes_with_near_copies(2400, seed=max_bits)
    assert len(codes) > _near_pairs._ALL_PAIRS_UP_TO
    first, second = near_pairs(codes, max_bits)
    distance = np.bitwise_count(codes[:, None] ^ codes[None, :])
    want_first, want_second = np.nonzero(np.triu(distance <= max_bits, k=1))
    assert len(first) > 0
    assert first.tolist() == want_first.tolist() and second.tolist() == want_second.tolist()


def test_components_join_chains_and_leave_singletons() -> None:
    labels = components(5, np.array([0, 1]), np.array([1, 3]))
    assert labels[0] == labels[1] == labels[3]
    assert len({labels[0], labels[2], labels[4]}) == 3


def _hit(path: str, score: float) -> Hit:
    return Hit(path, score, "c", score, 0.0, "fake", "fake-v1", False, (), (), "", 1, 1, None)


def test_collapse_keeps_the_best_copy_as_the_card_and_the_order_of_the_rest() -> None:
    hits = [_hit("a", 0.9), _hit("b", 0.8), _hit("a-copy", 0.8), _hit("c", 0.7), _hit("a-resized", 0.6)]
    contents = ["ha", "hb", "ha", "hc", "ha2"]
    picture_hashes = {"ha": b"\x00" * 8, "ha2": b"\x00" * 7 + b"\x03", "hb": b"\xff" * 8}  # hc: none yet
    cards = collapse_copies(hits, contents, picture_hashes, limit=10)
    assert [(c.path, c.score, c.copies) for c in cards] == [
        ("a", 0.9, ("a-copy", "a-resized")),
        ("b", 0.8, ()),
        ("c", 0.7, ()),
    ]
    # The limit counts cards; a copy below the last card still joins it.
    assert [(c.path, c.copies) for c in collapse_copies(hits, contents, picture_hashes, limit=1)] == [
        ("a", ("a-copy", "a-resized"))
    ]
