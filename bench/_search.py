"""Vector search latency and recall at 10k / 100k / 1M caption embeddings.

For each size: the layout picscribe chooses (store.VectorIndex.build) vs an
exact FAISS flat index vs brute-force numpy, p50/p99 per single query (no
query embedding), recall@10 of the chosen index against exact; filtered
search (narrow and broad filters) against exact filtered top-10; and the
end-to-end time with MiniLM query embedding.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import faiss
import numpy as np

from picscribe.store import VectorIndex

from . import _vectors
from ._table import Row, percentiles, timed_each

K = 10


def _recall(got: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(g) & set(t.tolist())) / len(t) for g, t in zip(got, truth, strict=True)]))


def _one_thread() -> None:
    # Same as VectorIndex.search: a single query runs on one thread.
    faiss.omp_set_num_threads(1)


def _search_each(
    vi: VectorIndex, queries: np.ndarray, allowed: np.ndarray | None = None
) -> tuple[list[float], list[list[int]]]:
    """Seconds per single query, and the ids each query found."""
    got: list[list[int]] = []
    times = timed_each(lambda q: got.append([i for i, _ in vi.search(q, K, allowed)]), queries)
    return times, got


def run(
    sizes: list[int], n_queries: int, slow_queries: int, e2e_queries: int, log: Callable[[str], object] = print
) -> list[Row]:
    """All rows for each size; the end-to-end row for the largest only."""
    cv = _vectors.load(log=log)
    queries = cv.queries[:n_queries]
    rows: list[Row] = []
    threads = faiss.omp_get_max_threads()
    for n in sizes:
        # One function per size: its vectors and the flat index are freed
        # when it returns, before the next (larger) size is built.
        size_rows, vi = _one_size(n, queries, slow_queries, cv, threads)
        rows += size_rows
        if n == sizes[-1]:
            rows.append(_end_to_end(_section(n), vi, cv, e2e_queries))
    return rows


def _section(n: int) -> str:
    return f"search {n // 1000}k"


def _one_size(
    n: int, queries: np.ndarray, slow_queries: int, cv: _vectors.CaptionVectors, threads: int
) -> tuple[list[Row], VectorIndex]:
    sec = _section(n)
    X, _ = _vectors.scaled(cv, n)
    ids = np.arange(n, dtype=np.int64)
    faiss.omp_set_num_threads(threads)
    started = time.perf_counter()
    vi = VectorIndex.build(X.shape[1], ids, X)
    build_s = time.perf_counter() - started
    flat = faiss.IndexFlatIP(X.shape[1])
    flat.add(X)
    _, truth = flat.search(queries, K)  # batched, all threads: ground truth only
    _one_thread()

    chosen_t, got = _search_each(vi, queries)
    slow = queries[: min(len(queries), slow_queries)]
    flat_t = timed_each(lambda q: flat.search(q[None], K), slow)

    def brute(q: np.ndarray) -> np.ndarray:
        s = X @ q
        top = np.argpartition(-s, K)[:K]
        return top[np.argsort(-s[top])]

    numpy_t = timed_each(brute, slow)
    c50, c99 = percentiles(chosen_t)
    f50, f99 = percentiles(flat_t)
    n50, _ = percentiles(numpy_t)
    spec = vi.spec
    name = spec.kind + (f" nlist={spec.nlist} nprobe={spec.nprobe}" if spec.nlist else "")
    big = n >= 1_000_000
    recall = _recall(got, truth)
    rows = [
        Row(
            sec,
            f"{name}: p50",
            c50,
            "ms",
            "flat p50",
            f50,
            "<= 10 ms" if big else "",
            c50 <= 10 if big else None,
            f"{len(queries)} queries; baseline over {len(slow)}",
        ),
        Row(sec, f"{name}: p99", c99, "ms", "flat p99", f99, "<= 30 ms" if big else "", c99 <= 30 if big else None),
        Row(sec, "numpy brute force: p50", n50, "ms", "flat p50", f50),
        Row(
            sec,
            f"recall@{K} vs exact",
            recall,
            "",
            goal=">= 0.95" if big else "",
            met=recall >= 0.95 if big else None,
        ),
        Row(sec, "index build (train + add)", build_s, "s"),
    ]
    rows += _filtered(sec, vi, X, queries[:200])
    faiss.omp_set_num_threads(threads)
    return rows, vi


def _filtered(sec: str, vi: VectorIndex, X: np.ndarray, queries: np.ndarray) -> list[Row]:
    """Narrow (1%) and broad (30%) filters: latency and recall against the
    exact top-10 among the allowed ids, vs the unfiltered search."""
    n = len(X)
    rng = np.random.default_rng(7)
    rows = []
    base = percentiles(timed_each(lambda q: vi.search(q, K), queries))[0]
    for share in (0.01, 0.3):
        allowed = np.sort(rng.choice(n, max(K, int(n * share)), replace=False)).astype(np.int64)
        sub = X[allowed]
        truth = [allowed[np.argsort(-(sub @ q), kind="stable")[:K]] for q in queries]
        times, got = _search_each(vi, queries, allowed)
        recall = _recall(got, np.array(truth))
        rows.append(
            Row(
                sec,
                f"filter {share:.0%} of ids: p50",
                percentiles(times)[0],
                "ms",
                "unfiltered p50",
                base,
                note=f"recall@{K} vs exact filtered = {recall:.3f}",
            )
        )
    return rows


def _end_to_end(sec: str, vi: VectorIndex, cv: _vectors.CaptionVectors, n_queries: int) -> Row:
    """Query embedding (MiniLM, one query at a time) + search, vs search alone."""
    emb = _vectors._embedder()
    emb.embed(["warm up"])
    texts = cv.query_texts[:n_queries]
    search_only = percentiles(timed_each(lambda q: vi.search(q, K), cv.queries[:n_queries]))
    both = percentiles(timed_each(lambda s: vi.search(emb.embed([s])[0], K), texts))
    return Row(
        sec,
        "end-to-end with query embedding: p50",
        both[0],
        "ms",
        "search-only p50",
        search_only[0],
        note=f"p99 {both[1]:.1f} ms; {len(texts)} queries",
    )
