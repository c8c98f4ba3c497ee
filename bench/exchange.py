"""Export and import throughput, file sizes and peak memory, on a synthetic index.

Usage: .venv/bin/python bench/exchange.py [--images 20000] [--task-texts]

Builds an index of N images through the store's write path (random unit
vectors, no model; with ``--task-texts`` each image also gets a detailed
and an alt-text caption), then times ``export`` to each format, the
kohya-style caption files (``--format txt``) into a folder, and ``import`` of
the Parquet and JSONL files (with vectors: no embedding) into fresh homes,
and a second import of the same file (a no-op). Peak RSS is the process's
high-water mark after each step: it stays flat if rows stream. Machines
here are shared and noisy: compare rows of one run, not across runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from picscribe.exchange import export_caption_files, export_store, import_files
from picscribe.search import DEFAULT_EMBEDDER, SentenceTransformerEmbedder
from picscribe.store import CaptionRecord, ImageRecord, Store

DIM = 384


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(home: Path, images: int, task_texts: bool) -> None:
    rng = np.random.default_rng(0)
    with Store.open(home) as store:
        store.bind_embedder(DEFAULT_EMBEDDER, DIM)
        for start in range(0, images, 1000):
            imgs, caps = [], []
            for i in range(start, min(images, start + 1000)):
                digest = f"{i:064x}"
                vec = rng.standard_normal(DIM).astype(np.float32)
                imgs.append(ImageRecord(f"/photos/{i:08d}.jpg", 100_000 + i, i, digest, 640, 480, "JPEG", None))
                caps.append(
                    CaptionRecord(
                        digest,
                        "fake",
                        "fake-v1",
                        "caption",
                        f"A photo of {i % 7} dogs and a cat on a sofa number {i}.",
                        vec / np.linalg.norm(vec),
                        tags=(("dog", 0.9), ("sofa", 0.5)),
                        objects=(("dog", i % 7 + 1, 0.8),),
                    )
                )
                if task_texts:
                    detailed = f"A longer description of {i % 7} dogs and a cat on sofa number {i}, in a bright room."
                    caps.append(CaptionRecord(digest, "fake", "fake-v1", "detailed", detailed, caps[-1].vector))
                    caps.append(
                        CaptionRecord(
                            digest, "fake", "fake-v1", "alt_text", f"Dogs on sofa {i}", np.zeros(0, dtype=np.float32)
                        )
                    )
            store.write_batch(imgs, caps)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--task-texts", action="store_true", help="give each image a detailed and an alt-text caption")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="picscribe-bench-exchange-"))
    embedder = SentenceTransformerEmbedder(
        DEFAULT_EMBEDDER, cache_dir=work / "cache"
    )  # never loads: rows carry vectors
    started = time.perf_counter()
    build(work / "source", args.images, args.task_texts)
    print(
        f"load: {os.getloadavg()}  images: {args.images}  task texts: {args.task_texts}  "
        f"build: {time.perf_counter() - started:.1f}s"
    )
    print(f"{'step':<34} {'seconds':>8} {'rows/s':>9} {'MB':>8} {'peak RSS MB':>12}")

    def row(step: str, seconds: float, rows: int, size: float | None = None) -> None:
        mb = f"{size / 2**20:.1f}" if size is not None else "-"
        print(f"{step:<34} {seconds:>8.2f} {rows / seconds:>9.0f} {mb:>8} {peak_rss_mb():>12.0f}")

    with Store.open(work / "source", read_only=True) as store:
        for fmt, vectors in [("parquet", True), ("parquet", False), ("jsonl", True), ("csv", False)]:
            out = work / f"rows{'-vectors' if vectors else ''}.{fmt}"
            t = time.perf_counter()
            report = export_store(store, out, fmt, vectors=vectors)
            row(
                f"export {fmt}{' --vectors' if vectors else ''}",
                time.perf_counter() - t,
                report.rows,
                out.stat().st_size,
            )
        t = time.perf_counter()
        files = export_caption_files(store, work / "captions")
        assert files.written == args.images and not files.errors
        size = sum(p.stat().st_size for p in (work / "captions").rglob("*.txt"))
        row("export txt (caption files)", time.perf_counter() - t, files.written, size)
    for fmt in ("parquet", "jsonl"):
        with Store.open(work / f"import-{fmt}") as store:
            for attempt in ("import", "import again (no-op)"):
                t = time.perf_counter()
                rep = import_files(store, embedder, [work / f"rows-vectors.{fmt}"])
                assert not rep.errors and rep.rows == args.images
                row(f"{attempt} {fmt} --vectors", time.perf_counter() - t, rep.rows)
    print(f"work folder: {work}")


if __name__ == "__main__":
    main()
