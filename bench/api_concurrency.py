"""Indexing through an API backend: throughput against server latency and --concurrency.

Usage: .venv/bin/python bench/api_concurrency.py [--latency 0.2] [--copies 2]

A local OpenAI-protocol server (the test suite's, tests/api_servers.py)
answers each request after ``--latency`` seconds, like a hosted model. The
real `openai` client and the real pipeline index copies of data/samples at
several concurrency settings. Prints images/s and the speed-up over
concurrency 1, measured in the same run (the machines here are noisy), next
to the ideal a latency-bound run would reach.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the server takes per request")
    parser.add_argument(
        "--copies", type=int, default=2, help="copies of the 26 samples (each copy re-encoded, so new content)"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    args = parser.parse_args()

    from PIL import Image
    from support.api_servers import serve

    from picscribe.app import choose_captioner, embedder_for, indexer_for
    from picscribe.config import load_config
    from picscribe.store import Store

    work = Path(tempfile.mkdtemp(prefix="picscribe-bench-api-"))
    photos = work / "photos"
    photos.mkdir()
    for copy in range(args.copies):
        for src in sorted((REPO / "data" / "samples" / "images").glob("*.jpg")):
            # Different quality per copy: different bytes, so no copy is a duplicate of another.
            Image.open(src).save(photos / f"{copy}-{src.name}", quality=90 - copy)
    count = len(list(photos.iterdir()))

    def reply(request: object) -> str:
        time.sleep(args.latency)
        return "A photo of something on a table."

    rows = []
    with serve("openai") as server:
        server.reply = reply
        os.environ.update(OPENAI_BASE_URL=f"{server.url}/v1", OPENAI_API_KEY="sk-bench", NO_PROXY="127.0.0.1")
        for concurrency in args.concurrency:
            home = work / f"home-{concurrency}"
            cfg = load_config(home, captioner="openai:bench-model", api_concurrency=concurrency)
            choice = choose_captioner(cfg)  # api_concurrency reaches the backend as CaptionerOptions.concurrency
            with Store.open(home) as store:
                indexer = indexer_for(cfg, store, choice)
                embedder_for(cfg).embed(["warm up"])  # the one-time model load is not throughput
                report = indexer.index([photos])
            choice.captioner.close()
            assert report.captioned == count, report.failures[:3]
            rows.append((concurrency, report.seconds, count / report.seconds))
    shutil.rmtree(work, ignore_errors=True)

    base = rows[0][2]
    print(f"{count} images, server latency {args.latency * 1000:.0f} ms per request, openai client, real pipeline\n")
    print("| concurrency | seconds | images/s | speed-up vs 1 | latency-bound ideal |")
    print("|---|---|---|---|---|")
    for concurrency, seconds, rate in rows:
        print(f"| {concurrency} | {seconds:.2f} | {rate:.1f} | {rate / base:.2f}x | {concurrency}x |")


if __name__ == "__main__":
    main()
