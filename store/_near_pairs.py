"""Which perceptual hashes lie within a few bits of each other, without
comparing every pair: the "same picture" tier at a million photos.

Multi-index hashing (Norouzi, Punjani and Fleet, 2012): split each 64-bit
hash into three chunks of 22, 21 and 21 bits. Two hashes at most ``r`` bits
apart differ in at most ``r // 3`` bits in one of the chunks (pigeonhole),
so the candidates of a hash are the hashes whose chunk equals one of its
own chunk's values with up to ``r // 3`` bits flipped: a table lookup each,
and at a million hashes most lookups find nothing. Every candidate pair is
then checked on all 64 bits, so the answer is exact, not approximate.

FAISS's binary indexes were measured first (``bench/duplicates.py``, load
9 on 2 cores): ``IndexBinaryFlat.range_search`` is exact but compares every
pair (18 s at 100k hashes, about 12 min at 1M, against 3.9 s and 46 s
here); ``IndexBinaryHash`` (16-bit buckets, 2 flips) took 3.8 s at 100k but
missed 94 of 1,000 planted copies, and ``IndexBinaryMultiHash`` took 74 s
at 100k.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import combinations

import numpy as np

#: Bits of each chunk; they add up to the 64 of a picture hash.
_CHUNK_BITS = (22, 21, 21)

#: Largest Hamming distance between two picture hashes of the same picture,
#: measured on 80 COCO photos x 6 variants (bench/duplicates.py): every
#: resize, JPEG q=60, PNG, CMYK conversion and EXIF turn lands within it, and
#: 86% of 5% crops (96% at 10 bits, 99% at 12); precision was 1.000 at every
#: radius up to 12, the closest two different photos being 18 bits apart.
#: 8 is the largest radius the three-chunk tables answer exactly with two
#: flips; 10 would need three (5,382 probes instead of 762: about 7x slower).
SAME_PICTURE_MAX_BITS = 8

#: Below this many hashes every pair is compared: the chunk tables cost
#: about 1 ms a flip pattern whatever the number of hashes.
_ALL_PAIRS_UP_TO = 2048


def as_codes(hashes: Sequence[bytes]) -> np.ndarray:
    """8-byte picture hashes as one uint64 each (big-endian, as stored)."""
    if not hashes:
        return np.zeros(0, dtype=np.uint64)
    return np.frombuffer(b"".join(hashes), dtype=">u8").astype(np.uint64)


def near_pairs(codes: np.ndarray, max_bits: int = SAME_PICTURE_MAX_BITS) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i, j), i < j, of ``codes`` (uint64) at most ``max_bits`` bits apart,
    each pair once, sorted."""
    n = len(codes)
    empty = np.zeros(0, dtype=np.int64)
    if n < 2:
        return empty, empty
    if n <= _ALL_PAIRS_UP_TO:
        return _all_pairs(codes, max_bits)
    flips = max_bits // len(_CHUNK_BITS)
    found: list[np.ndarray] = []
    shift = 64
    for bits in _CHUNK_BITS:
        shift -= bits
        key = ((codes >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.int64)
        # Probed in key order: a few flipped bits keep a key near itself, so the
        # table lookups walk memory almost in order instead of at random.
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        counts = np.bincount(sorted_key, minlength=1 << bits).astype(np.int32)
        starts = (np.cumsum(counts, dtype=np.int64) - counts).astype(np.int32)
        for pattern in _patterns(bits, flips):
            probe = sorted_key ^ pattern
            size = counts[probe]
            who = np.flatnonzero(size)
            if len(who) == 0:
                continue
            size = size[who]
            i = order[np.repeat(who, size)]
            offsets = np.arange(len(i)) - np.repeat(np.cumsum(size) - size, size)
            j = order[np.repeat(starts[probe[who]], size) + offsets]
            keep = i < j
            i, j = i[keep], j[keep]
            close = np.bitwise_count(codes[i] ^ codes[j]) <= max_bits
            found.append(i[close] * n + j[close])
    pairs = np.unique(np.concatenate(found)) if found else empty
    return pairs // n, pairs % n


def _all_pairs(codes: np.ndarray, max_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """The same answer by comparing every pair: faster for a few thousand hashes (a search's candidates)."""
    distance = np.bitwise_count(codes[:, None] ^ codes[None, :])
    first, second = np.nonzero(np.triu(distance <= max_bits, k=1))
    return first.astype(np.int64), second.astype(np.int64)


def _patterns(bits: int, flips: int) -> Iterator[int]:
    """Every ``bits``-bit value with at most ``flips`` bits set, 0 first."""
    for k in range(flips + 1):
        for chosen in combinations(range(bits), k):
            yield sum(1 << b for b in chosen)


def components(n: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """A group label for each of ``n`` items, joining every pair (first[k], second[k])."""
    labels = np.arange(n, dtype=np.int64)
    if len(first) == 0:
        return labels
    # Each item points at the smallest item it is joined to, then at what that
    # one points at (pointer jumping), until nothing changes: a few rounds,
    # all in numpy, however many pairs there are.
    while True:
        low = np.minimum(labels[first], labels[second])
        before = labels.copy()
        np.minimum.at(labels, first, low)
        np.minimum.at(labels, second, low)
        labels = labels[labels]
        if np.array_equal(labels, before):
            return labels
