"""A synthetic picscribe library of N images in a real store (SQLite + FTS5 +
FAISS file), built once through ``Store.write_batch`` and cached.

Run as a process so its peak RSS is its own:
``python -m bench._library HOME N`` builds HOME and prints JSON with the
insert rate and the process's peak RSS (the "index process" figure: the
store's write path and the FAISS build, without captioning).

Each image gets a templated caption (its source caption, see _vectors),
its MiniLM-derived vector, one detected object, a folder of 1,000 images
(/lib/NNNN/), and a capture date spread over ten years.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

from picscribe.search.embedder import DEFAULT_EMBEDDER
from picscribe.store import CaptionRecord, ImageRecord, Store

from . import _vectors
from ._table import peak_rss_mb

BATCH = 5_000
FOLDER_SIZE = 1_000
CAPTIONER, MODEL = "fake", "fake-v1"


def _records(cv: _vectors.CaptionVectors, start: int, vecs, src):
    images, captions = [], []
    for j in range(len(vecs)):
        i = start + j
        h = f"{i:016x}"
        day = i % 3650
        taken = f"{2015 + day // 365}-{1 + (day % 365) // 31:02d}-{1 + day % 28:02d} 12:00:00"
        images.append(ImageRecord(f"/lib/{i // FOLDER_SIZE:04d}/{i}.jpg", 50_000, i, h, 640, 480, "JPEG", taken))
        text = cv.texts[src[j]]
        obj = next(o for o in _vectors.OBJECTS[::-1] if o in text)
        captions.append(CaptionRecord(h, CAPTIONER, MODEL, "caption", text, vecs[j], objects=((obj, 1, 0.9),)))
    return images, captions


def build(home: Path, n: int) -> dict[str, float]:
    cv = _vectors.load()
    started = time.perf_counter()
    write_s = 0.0
    with Store.open(home) as store:
        store.bind_embedder(DEFAULT_EMBEDDER, cv.base.shape[1])
        store.ensure_active_captioner(CAPTIONER, MODEL)
        for start, vecs, src in _vectors.chunks(cv, n):
            for b in range(0, len(vecs), BATCH):
                images, captions = _records(cv, start + b, vecs[b : b + BATCH], src[b : b + BATCH])
                t0 = time.perf_counter()
                store.write_batch(images=images, captions=captions)
                write_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        store.vector_index()
        faiss_s = time.perf_counter() - t0
    return {
        "rows": n,
        "write_s": write_s,
        "rows_per_s": n / write_s,
        "faiss_build_s": faiss_s,
        "total_s": time.perf_counter() - started,
        "peak_rss_mb": peak_rss_mb(),
    }


def raw_insert_rate(n: int = 20_000) -> float:
    """Rows/s for plain sqlite3 executemany of comparable rows (image row +
    caption row + vector blob), WAL, in one transaction: the floor the
    store's write path is compared with."""
    import numpy as np

    blob = np.zeros(384, dtype=np.float32).tobytes()
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        "CREATE TABLE i(id INTEGER PRIMARY KEY, path TEXT UNIQUE, h TEXT);"
        "CREATE TABLE c(id INTEGER PRIMARY KEY, h TEXT UNIQUE, text TEXT);"
        "CREATE TABLE e(id INTEGER PRIMARY KEY, v BLOB);"
        "CREATE VIRTUAL TABLE f USING fts5(caption);"
    )
    started = time.perf_counter()
    with conn:
        conn.executemany("INSERT INTO i VALUES (?, ?, ?)", ((i, f"/lib/{i}.jpg", f"{i:016x}") for i in range(n)))
        conn.executemany(
            "INSERT INTO c VALUES (?, ?, ?)", ((i, f"{i:016x}", "two red buses parked on a street") for i in range(n))
        )
        conn.executemany("INSERT INTO e VALUES (?, ?)", ((i, blob) for i in range(n)))
        conn.executemany(
            "INSERT INTO f(rowid, caption) VALUES (?, ?)", ((i, "two red buses parked on a street") for i in range(n))
        )
    return n / (time.perf_counter() - started)


def cached_home(n: int) -> Path:
    return _vectors.cache_dir() / f"library-{n}"


if __name__ == "__main__":
    target, size = Path(sys.argv[1]), int(sys.argv[2])
    print(json.dumps(build(target, size)))
