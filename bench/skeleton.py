"""Indexing throughput, no-op re-index time, and search latency (cold and warm).

Usage: .venv/bin/python bench/skeleton.py [FOLDER] [--captioner offline]

Prints a table. Cold search is a fresh `picscribe search` process (imports
and model load included); warm is the median of repeated in-process queries.
Machines here are shared and noisy: compare rows of one run, not across runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "picscribe"]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", default=str(REPO / "data" / "samples"))
    parser.add_argument("--captioner", default="offline")
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args()

    from picscribe.app import embedder_for, indexer_for, retriever_for
    from picscribe.config import load_config
    from picscribe.indexer import choose
    from picscribe.store import Store

    home = Path(tempfile.mkdtemp(prefix="picscribe-bench-"))
    env = {**os.environ, "PICSCRIBE_HOME": str(home)}
    cfg = load_config(home, captioner=args.captioner)
    choice = choose(cfg.captioner)
    rows: list[tuple[str, str]] = []

    with Store.open(home) as store:
        indexer = indexer_for(cfg, store, choice)
        embedder_for(cfg).embed(["warm up"])  # exclude the one-time embedder load from throughput
        report = indexer.index([Path(args.folder)])
        n = report.captioned
        rows.append(
            (
                f"index {n} images ({args.captioner}), in-process",
                f"{report.seconds:.2f} s = {n / report.seconds:.2f} images/s",
            )
        )
        again = indexer.index([Path(args.folder)])
        rows.append(("no-op re-index, in-process", f"{again.seconds * 1000:.1f} ms ({again.decoded} decoded)"))

    rows.append(
        (
            "no-op re-index, CLI process",
            f"{timed(CLI + ['index', args.folder, '--captioner', args.captioner], env):.2f} s",
        )
    )
    cold = [timed(CLI + ["search", "pizza on a plate", "--limit", "3"], env) for _ in range(3)]
    rows.append(("search, cold (new process), median of 3", f"{statistics.median(cold):.2f} s"))

    with Store.open(home) as store:
        retriever = retriever_for(cfg, store)
        started = time.perf_counter()
        retriever.search("a bus on the road", limit=10)
        rows.append(
            ("search, first in process (embedder already loaded)", f"{(time.perf_counter() - started) * 1000:.0f} ms")
        )
        times = []
        for i in range(args.queries):
            started = time.perf_counter()
            retriever.search(f"stop sign number {i}", limit=10)
            times.append(time.perf_counter() - started)
        rows.append((f"search, warm, median of {args.queries}", f"{statistics.median(times) * 1000:.1f} ms"))

    width = max(len(k) for k, _ in rows)
    print(f"{'measure'.ljust(width)} | value")
    print(f"{'-' * width}-|------")
    for key, value in rows:
        print(f"{key.ljust(width)} | {value}")


if __name__ == "__main__":
    main()
