"""Duplicates: grouping at scale, and how right the "same picture" tier is.

Usage: .venv/bin/python bench/duplicates.py [--sizes 100000,1000000] [--eval-dir ../shared/eval/coco-dev] [--skip-scale]

1. Scale. Picture hashes are grouped (``store.near_pairs`` + ``components``)
   at each size: random 64-bit hashes with 1% planted copies 0 to 8 bits
   away. Each size runs in a fresh process, so its peak RSS is its own. The
   baseline is the naive all-pairs comparison (FAISS ``IndexBinaryFlat``
   range search, every pair, multi-threaded), timed on a sample and scaled by
   the pair count (n^2/2): the ratio is naive / ours. FAISS's
   ``IndexBinaryHash`` is timed at the first size too, with the planted pairs
   it misses (it finds neighbours by flipping bits of one 16-bit prefix).
2. Precision and recall of the "same picture" tier on photos from EVAL_DIR:
   each of the first 80, and 6 variants of it made on the fly (resized to
   half, JPEG q=60, PNG, CMYK, turned with an EXIF orientation, cropped 5%),
   hashed through the indexer's own decode path. A pair is right when both
   come from one photo; the 80 originals are each other's distractors. Rows
   for several radii, the shipped SAME_PICTURE_MAX_BITS marked.

The machines are shared and noisy: report ``uptime`` with the numbers and
compare rows of one run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np
from PIL import Image

from picscribe.indexer.decode import load
from picscribe.indexer.scan import FileEntry
from picscribe.store import SAME_PICTURE_MAX_BITS, components, near_pairs

PLANTED_SHARE = 0.01
NAIVE_SAMPLE = 20_000
TRANSFORMS = ("resized", "q60", "png", "cmyk", "exif-rotated", "cropped-5%")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_codes(n: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """n hashes: random ones and PLANTED_SHARE of copies 0..8 bits from one of them; and how many copies."""
    rng = np.random.default_rng(seed)
    planted = int(n * PLANTED_SHARE)
    base = rng.integers(0, 2**63, n - planted, dtype=np.uint64) * np.uint64(2)
    base |= rng.integers(0, 2, n - planted, dtype=np.uint64)
    copies = base[:planted].copy()
    for k in range(planted):
        for bit in rng.choice(64, k % 9, replace=False):
            copies[k] ^= np.uint64(1) << np.uint64(int(bit))
    return np.concatenate([base, copies]), planted


def one_scale(n: int, with_faiss: bool) -> dict[str, float]:
    """Run in a child process: group n hashes; time, peak RSS, and the naive baseline on a sample."""
    codes, planted = synthetic_codes(n)
    start = time.perf_counter()
    first, second = near_pairs(codes, SAME_PICTURE_MAX_BITS)
    labels = components(len(codes), first, second)
    seconds = time.perf_counter() - start
    found_planted = int(np.sum(labels[:planted] == labels[n - planted :]))
    out = {"n": n, "seconds": seconds, "pairs": len(first), "planted": planted, "planted_found": found_planted}
    out["peak_rss_mb"] = _peak_rss_mb()

    import faiss

    sample = min(n, NAIVE_SAMPLE)
    as_bytes = codes[:sample].astype(">u8").view(np.uint8).reshape(sample, 8)
    flat = faiss.IndexBinaryFlat(64)
    flat.add(as_bytes)
    start = time.perf_counter()
    flat.range_search(as_bytes, SAME_PICTURE_MAX_BITS + 1)  # radius is exclusive
    out["naive_seconds"] = (time.perf_counter() - start) * (n / sample) ** 2
    if with_faiss:
        all_bytes = codes.astype(">u8").view(np.uint8).reshape(len(codes), 8)
        hashed = faiss.IndexBinaryHash(64, 16)
        hashed.nflip = 2
        hashed.add(all_bytes)
        start = time.perf_counter()
        lims, _, ids = hashed.range_search(all_bytes, SAME_PICTURE_MAX_BITS + 1)
        out["faiss_hash_seconds"] = time.perf_counter() - start
        found = 0
        for k in range(planted):
            q = n - planted + k
            found += int(k in set(ids[lims[q] : lims[q + 1]].tolist()))
        out["faiss_hash_planted_found"] = found
    return out


def scale_rows(sizes: list[int]) -> None:
    print(f"{'hashes':>10} {'ours s':>8} {'naive s':>10} {'naive/ours':>10} {'peak RSS MB':>11} {'planted found':>14}")
    for k, n in enumerate(sizes):
        child = subprocess.run(
            [sys.executable, __file__, "--one-scale", str(n), *(["--faiss"] if k == 0 else [])],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(child.stdout)
        ratio = r["naive_seconds"] / r["seconds"]
        found = f"{r['planted_found']}/{r['planted']}"
        times = f"{r['seconds']:>8.1f} {r['naive_seconds']:>10.1f} {ratio:>10.1f}"
        print(f"{n:>10,} {times} {r['peak_rss_mb']:>11.0f} {found:>14}")
        if "faiss_hash_seconds" in r:
            print(
                f"{'':>10} FAISS IndexBinaryHash(b=16, nflip=2): {r['faiss_hash_seconds']:.1f} s, "
                f"planted copies found {r['faiss_hash_planted_found']}/{r['planted']}"
            )
    print(f"(naive: IndexBinaryFlat.range_search timed on {NAIVE_SAMPLE:,} hashes, scaled by (n / sample)^2)")


def _variant(img: Image.Image, name: str, folder: Path, stem: str) -> Path:
    w, h = img.size
    path = folder / f"{stem}-{name}.{'png' if name == 'png' else 'jpg'}"
    if name == "resized":
        img.resize((w // 2, h // 2), Image.Resampling.LANCZOS).save(path, quality=92)
    elif name == "q60":
        img.save(path, quality=60)
    elif name == "png":
        img.save(path)
    elif name == "cmyk":
        img.convert("CMYK").save(path, quality=92)
    elif name == "exif-rotated":
        exif = Image.Exif()
        exif[0x0112] = 6  # turn 90 degrees clockwise to show
        img.transpose(Image.Transpose.ROTATE_90).save(path, quality=92, exif=exif)
    elif name == "cropped-5%":
        dx, dy = round(w * 0.025), round(h * 0.025)
        img.crop((dx, dy, w - dx, h - dy)).save(path, quality=92)
    else:
        raise ValueError(name)
    return path


def accuracy_rows(eval_dir: Path, photos: int) -> None:
    files = sorted((eval_dir / "images").glob("*.jpg"))[:photos]
    hashes: list[bytes] = []
    source: list[int] = []
    kind: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, f in enumerate(files):
            img = Image.open(io.BytesIO(f.read_bytes())).convert("RGB")
            paths = [(f, "original")] + [(_variant(img, t, Path(tmp), str(k)), t) for t in TRANSFORMS]
            for path, name in paths:
                loaded = load(FileEntry(str(path), 0, 0), frozenset())
                assert loaded.picture_hash is not None
                hashes.append(loaded.picture_hash)
                source.append(k)
                kind.append(name)
    codes = np.frombuffer(b"".join(hashes), dtype=">u8").astype(np.uint64)
    src = np.array(source)
    true_pairs = sum(len(list(combinations(range(1 + len(TRANSFORMS)), 2))) for _ in files)
    distance = np.bitwise_count(codes[:, None] ^ codes[None, :])
    print(
        f"\n{len(files)} photos x {len(TRANSFORMS)} variants + originals = {len(codes)} images, {true_pairs} true pairs"
    )
    print(f"{'radius':>6} {'pairs':>6} {'precision':>9} {'recall':>7}  recall to the original by variant")
    for radius in (4, 6, 8, 10, 12):
        first, second = near_pairs(codes, radius)
        right = int(np.sum(src[first] == src[second]))
        precision = right / len(first) if len(first) else 1.0
        by_kind = []
        for t in TRANSFORMS:
            rows = [i for i, name in enumerate(kind) if name == t]
            originals = [i - TRANSFORMS.index(t) - 1 for i in rows]
            by_kind.append(f"{t} {np.mean(distance[rows, originals] <= radius):.3f}")
        mark = "  <- shipped" if radius == SAME_PICTURE_MAX_BITS else ""
        print(f"{radius:>6} {len(first):>6} {precision:>9.3f} {right / true_pairs:>7.3f}  {', '.join(by_kind)}{mark}")
    originals_at = np.array([i for i, name in enumerate(kind) if name == "original"])
    others = distance[np.ix_(originals_at, originals_at)]
    off = others[np.triu_indices(len(files), 1)]
    print(f"distinct originals: closest pair {off.min()} bits apart, 1st percentile {np.percentile(off, 1):.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--eval-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared/eval/coco-dev")
    parser.add_argument("--photos", type=int, default=80)
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--one-scale", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--faiss", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_scale:
        print(json.dumps(one_scale(args.one_scale, args.faiss)))
        return
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} on {os.cpu_count()} CPUs")
    print(f"same picture: at most {SAME_PICTURE_MAX_BITS} bits apart\n")
    if not args.skip_scale:
        scale_rows([int(s) for s in args.sizes.split(",")])
    if args.eval_dir.is_dir():
        accuracy_rows(args.eval_dir, args.photos)
    else:
        print(f"\n{args.eval_dir}: not found; skipping precision and recall (--eval-dir)")


if __name__ == "__main__":
    main()
