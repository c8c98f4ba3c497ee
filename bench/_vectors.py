"""Realistic caption embeddings for the search benchmarks.

Gaussian random vectors are the wrong test data: they have no cluster
structure, so an approximate index looks either perfect or hopeless. Here
the vectors are MiniLM embeddings of templated captions built from COCO
object, colour, action and scene vocabularies, embedded once and cached as
.npy under the picscribe cache dir. Collections larger than the distinct
caption set are mixtures of two real embeddings plus a little noise,
renormalised. Queries are embeddings of held-out phrasings that are not in
the corpus.
"""

from __future__ import annotations

import itertools
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

OBJECTS = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "suitcase",
    "frisbee",
    "kite",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "laptop",
    "cell phone",
    "book",
    "clock",
    "vase",
    "teddy bear",
]
COUNTS = ["a", "two", "three", "several", "a group of"]
COLOURS = ["red", "blue", "green", "yellow", "white", "black", "brown", "orange"]
ACTIONS = ["sitting", "standing", "parked", "lying", "next to a fence", "on display", "in the rain"]
SETTINGS = [
    "on a beach",
    "in a kitchen",
    "on a city street",
    "in a park",
    "in a living room",
    "at an airport",
    "in a field",
    "on a snowy mountain",
    "at a train station",
    "in a harbour",
    "in a forest",
    "on a farm",
]


@dataclass(frozen=True)
class CaptionVectors:
    texts: list[str]  # the corpus captions, aligned with ``base``
    base: np.ndarray  # (n, 384) unit MiniLM embeddings of ``texts``
    query_texts: list[str]
    queries: np.ndarray  # (q, 384) unit embeddings of held-out phrasings


def cache_dir() -> Path:
    root = Path(os.environ.get("PICSCRIBE_CACHE") or platformdirs.user_cache_dir("picscribe"))
    return root / "bench"


def _plural(count: str, obj: str) -> str:
    return obj if count == "a" else obj + ("es" if obj.endswith(("s", "sh", "ch")) else "s")


def corpus_captions(limit: int) -> list[str]:
    combos = list(itertools.product(COUNTS, COLOURS, OBJECTS, ACTIONS, SETTINGS))
    random.Random(0).shuffle(combos)
    return [f"{c} {col} {_plural(c, o)} {a} {s}" for c, col, o, a, s in combos[:limit]]


def query_captions(n: int) -> list[str]:
    """Short search-box phrasings; a different template from the corpus, so none is a member."""
    rng = random.Random(1)
    out = []
    for _ in range(n):
        obj, setting = rng.choice(OBJECTS), rng.choice(SETTINGS)
        form = rng.randrange(3)
        if form == 0:
            out.append(f"{rng.choice(COLOURS)} {obj} {setting}")
        elif form == 1:
            out.append(f"photo of a {obj} {rng.choice(ACTIONS)}")
        else:
            out.append(f"{obj} and {rng.choice(OBJECTS)} {setting}")
    return out


def _embedder():
    from picscribe.search.embedder import SentenceTransformerEmbedder

    root = cache_dir().parent
    return SentenceTransformerEmbedder(cache_dir=root / "models")


def load(distinct: int = 20_000, n_queries: int = 1_000, *, log=print) -> CaptionVectors:
    """Embed (or read from the cache) ``distinct`` corpus captions and the queries."""
    d = cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    texts = corpus_captions(distinct)
    qtexts = query_captions(n_queries)
    base_path = d / f"captions-{distinct}.npy"
    query_path = d / f"queries-{n_queries}.npy"
    if not base_path.exists() or not query_path.exists():
        emb = _embedder()
        started = time.perf_counter()
        total = len(texts) + len(qtexts)
        # Minutes on 2 busy cores, once: say so, and how far it has got, rather than nothing.
        log(f"embedding {total} captions with MiniLM (first run only; cached in {d}) ...")
        done = 0
        for path, items in ((base_path, texts), (query_path, qtexts)):
            chunks = []
            for i in range(0, len(items), 2048):
                chunks.append(emb.embed(items[i : i + 2048]))
                done += len(chunks[-1])
                log(f"  {done}/{total} captions embedded, {time.perf_counter() - started:.0f} s")
            vecs = np.concatenate(chunks)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, vecs.astype(np.float32))
            os.replace(tmp, path)
        log(f"embedded {len(texts) + len(qtexts)} captions with MiniLM in {time.perf_counter() - started:.0f} s")
    return CaptionVectors(texts, np.load(base_path), qtexts, np.load(query_path))


_STEP = 100_000


def scaled(cv: CaptionVectors, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit vectors and, per vector, the index of its main source caption."""
    out = np.empty((n, cv.base.shape[1]), dtype=np.float32)
    src = np.empty(n, dtype=np.int64)
    for start, vecs, s in chunks(cv, n):
        out[start : start + len(vecs)], src[start : start + len(vecs)] = vecs, s
    return out, src


def chunks(cv: CaptionVectors, n: int):
    """(start, vectors, source caption index) in chunks: the real embeddings
    first, then mixtures of two real ones (weight 0.6-0.9 on the first) plus
    small noise, renormalised. Chunk k depends only on k, so a process can
    stream 1M vectors without holding them all."""
    base = cv.base
    m = len(base)
    yield 0, base[: min(n, m)], np.arange(min(n, m))
    for k, start in enumerate(range(m, n, _STEP)):
        rng = np.random.default_rng([0, k])
        size = min(_STEP, n - start)
        a = rng.integers(0, m, size)
        b = rng.integers(0, m, size)
        w = rng.uniform(0.6, 0.9, (size, 1)).astype(np.float32)
        v = w * base[a] + (1 - w) * base[b]
        v += rng.standard_normal(v.shape, dtype=np.float32) * np.float32(0.02)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        yield start, v, a
