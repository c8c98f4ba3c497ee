"""picscribe benchmarks: ``python -m bench [--quick] [--json] [--only SECTION ...]``.

Prints one table (or JSON). Machines here are shared and noisy, so every
figure sits next to a baseline measured in the same run, and the ratio is
what to compare across runs. Heavy inputs (MiniLM caption embeddings, the
synthetic library, the no-op image folder) are built once and cached under
``$PICSCRIBE_CACHE/bench`` (default: the platform cache dir); the first run
builds them and takes longer. ``--quick`` uses reduced sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from . import _cold_start, _library, _noop, _pipeline, _search, _vectors, embed_speed, offline_stages
from ._table import Row, percentiles, render, to_json

SECTIONS = ("search", "store", "coldstart", "embed", "noop", "pipeline", "offline")


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _library_home(n: int) -> tuple[Path, dict[str, float]]:
    home = _library.cached_home(n)
    stats_file = home / "bench-build.json"
    if not stats_file.exists():
        import shutil

        shutil.rmtree(home, ignore_errors=True)
        _log(f"building a {n}-image library through Store.write_batch (cached) ...")
        proc = subprocess.run(
            [sys.executable, "-m", "bench._library", str(home), str(n)], check=True, capture_output=True, text=True
        )
        stats = json.loads(proc.stdout)
        stats["commit"] = _commit()
        stats_file.write_text(json.dumps(stats))
    return home, json.loads(stats_file.read_text())


def _commit() -> str:
    """The code the cached library was built with: its figures are reused by later runs."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def _subprocess_json(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "bench._probe", *args], check=True, capture_output=True, text=True)
    return json.loads(proc.stdout)


def store_rows(n: int, n_queries: int) -> list[Row]:
    home, build = _library_home(n)
    sec = f"store {n // 1000}k"
    big = n >= 1_000_000
    rows = [
        Row(
            sec,
            "bulk insert, Store.write_batch (batches of 5000)",
            build["rows_per_s"],
            "rows/s",
            "raw sqlite3 executemany",
            _library.raw_insert_rate(),
            note=f"cached build by commit {build.get('commit', 'unknown')}: {build['write_s']:.0f} s writes"
            f" + {build['faiss_build_s']:.0f} s FAISS build",
        ),
        Row(
            sec,
            "peak RSS, index process (store writes + FAISS build)",
            build["peak_rss_mb"],
            "MB",
            goal="<= 2500 MB" if big else "",
            met=build["peak_rss_mb"] <= 2500 if big else None,
            note=f"from the cached build (built by commit {build.get('commit', 'unknown')})",
        ),
    ]
    rebuilt = _subprocess_json("--rebuild", str(home))
    rows.append(
        Row(
            sec,
            "peak RSS, FAISS rebuild from SQLite (streamed)",
            rebuilt["peak_rss_mb"],
            "MB",
            goal="<= 2500 MB" if big else "",
            met=rebuilt["peak_rss_mb"] <= 2500 if big else None,
            note=f"{rebuilt['rebuild_s']:.0f} s for {rebuilt['vectors']} vectors",
        )
    )
    probe = _subprocess_json(str(home), str(n_queries))
    lat = {k: percentiles(v) for k, v in probe["latency_s"].items()}
    vec50 = lat["vector search only (depth 50)"][0]
    for name, (p50, p99) in lat.items():
        rows.append(
            Row(
                sec,
                f"{name}: p50",
                p50,
                "ms",
                "vector-only p50",
                vec50,
                note=f"p99 {p99:.1f} ms, {n_queries} queries, no query embedding",
            )
        )
    rows.append(
        Row(
            sec,
            f"peak RSS, search process ({probe['index_kind']})",
            probe["peak_rss_mb"],
            "MB",
            goal="<= 2500 MB" if big else "",
            met=probe["peak_rss_mb"] <= 2500 if big else None,
        )
    )
    cold = probe["cold_total_s"]
    for phase in ("imports_s", "open_s", "faiss_load_s", "model_load_s", "first_query_s"):
        rows.append(Row(sec, f"cold start: {phase[:-2].replace('_', ' ')}", probe[phase], "s", "cold total", cold))
    env = {**os.environ, "PICSCRIBE_HOME": str(home)}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "picscribe", "search", "a dog on a beach", "--limit", "5", "--json"],
        env=env,
        check=True,
        capture_output=True,
    )
    cli = time.perf_counter() - started
    rows.append(Row(sec, "`picscribe search` process, start to result", cli, "s", "probe cold total", cold))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes; under a minute once cached")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--captioner", default="offline", help="captioner for the pipeline section")
    args = parser.parse_args()
    q = args.quick
    started = time.perf_counter()
    _vectors.load(log=_log)
    rows: list[Row] = []
    if "search" in args.only:
        _log("search ...")
        sizes = [10_000, 60_000] if q else [10_000, 100_000, 1_000_000]
        rows += _search.run(
            sizes, n_queries=200 if q else 1_000, slow_queries=50 if q else 100, e2e_queries=30 if q else 200, log=_log
        )
    if "store" in args.only:
        _log("store ...")
        rows += store_rows(20_000 if q else 1_000_000, n_queries=20 if q else 50)
    if "coldstart" in args.only:
        for n in [10_000] if q else [10_000, 1_000_000]:
            _log(f"cold start, {n // 1000}k ...")
            home, _ = _library_home(n)
            rows += _cold_start.run(
                home, f"{n // 1000}k", repeats=3 if q else 5, search_goal_s=1.0 if n <= 10_000 else 2.0
            )
    if "embed" in args.only:
        _log("captions embedded per second, numpy and sentence-transformers ...")
        rows += embed_speed.rows(200 if q else 400)
    if "noop" in args.only:
        _log("no-op re-index ...")
        rows += _noop.run(1_000 if q else 10_000, log=_log)
    if "pipeline" in args.only:
        _log("pipeline ...")
        rows += _pipeline.run(4 if q else 52, args.captioner)
    if "offline" in args.only:
        _log("offline captioner stages, models in turn and at once ...")
        rows += offline_stages.rows(8 if q else offline_stages.PHOTOS)
    print(to_json(rows) if args.json else render(rows))
    _log(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
