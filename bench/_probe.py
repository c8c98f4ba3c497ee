"""Search against a whole store (SQLite + FTS5 + FAISS file) in a process of
its own, so its peak RSS and cold start are its own.

``python -m bench._probe HOME QUERIES`` prints JSON: time to each phase of
a cold search (imports, opening the store, loading the FAISS file, loading
the embedding model, first query), then warm latencies of the full
Retriever.search with query vectors precomputed (fusion, FTS5, filters and
metadata joins included, query embedding excluded), of its parts, and the
process's peak RSS.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time

_T0 = time.perf_counter()

import numpy as np  # noqa: E402


def _sqlite_bm25(conn: sqlite3.Connection, match: str, limit: int) -> list[tuple[int, float]]:
    """SQLite's own bm25() ranking of ``match``: keyword search as it was before ``store._keyword``."""
    sql = "SELECT rowid, -bm25(search_text) AS s FROM search_text WHERE search_text MATCH ? ORDER BY s DESC LIMIT ?"
    return conn.execute(sql, (match, limit)).fetchall()


def main(home: str, n_queries: int) -> dict[str, object]:
    out: dict[str, object] = {}
    from picscribe.app import retriever_for  # what `picscribe search` imports
    from picscribe.config import load_config
    from picscribe.search import Retriever
    from picscribe.search.query import fts_match, query_words
    from picscribe.store import DB_NAME, SearchFilters, Store

    from . import _vectors
    from ._library import FOLDER_SIZE
    from ._table import peak_rss_mb, timed_each

    out["imports_s"] = time.perf_counter() - _T0
    cfg = load_config(__import__("pathlib").Path(home))
    t = time.perf_counter()
    store = Store.open(cfg.home, create=False)
    out["open_s"] = time.perf_counter() - t
    t = time.perf_counter()
    vi = store.vector_index()
    out["faiss_load_s"] = time.perf_counter() - t
    out["index_kind"] = f"{vi.spec.kind} nlist={vi.spec.nlist} nprobe={vi.spec.nprobe}"
    out["vectors"] = len(vi)
    retriever = retriever_for(cfg, store)
    t = time.perf_counter()
    retriever.embedder.embed(["warm"])
    out["model_load_s"] = time.perf_counter() - t
    t = time.perf_counter()
    retriever.search("a dog on a beach", limit=10)
    out["first_query_s"] = time.perf_counter() - t
    out["cold_total_s"] = time.perf_counter() - _T0

    fts = sqlite3.connect(cfg.home / DB_NAME)  # for the "before" baseline
    cv = _vectors.load()
    texts = cv.query_texts[:n_queries]
    vectors = dict(zip(texts, cv.queries[:n_queries], strict=True))

    class Precomputed:
        name = retriever.embedder.name
        dim = retriever.embedder.dim

        def embed(self, items: list[str]) -> np.ndarray:
            return np.stack([vectors[s] for s in items])

    fast = Retriever(store, Precomputed())

    def keyword_side_uncached(s: str) -> dict[int, float]:
        store._keywords._df.clear()  # the first query with these words since the last write
        return store.keyword_scores(query_words(s), store.keyword_candidates(query_words(s), 50))

    folders = max(1, len(vi) // FOLDER_SIZE)
    cases = {
        "retriever": lambda s: fast.search(s, limit=10),
        "retriever, folder filter (0.1%)": lambda s: fast.search(
            s, limit=10, filters=SearchFilters(folder=f"/lib/{hash(s) % folders:04d}")
        ),
        "retriever, date filter (~10%)": lambda s: fast.search(
            s, limit=10, filters=SearchFilters(date_from="2016-01-01 00:00:00", date_to="2016-12-31 23:59:59")
        ),
        "retriever, object filter (~1.6%)": lambda s: fast.search(s, limit=10, filters=SearchFilters(objects=("dog",))),
        "retriever, date filter (one month, ~0.8%)": lambda s: fast.search(
            s, limit=10, filters=SearchFilters(date_from="2016-03-01 00:00:00", date_to="2016-03-31 23:59:59")
        ),
        "vector search only (depth 50)": lambda s: vi.search(vectors[s], 50),
        "keyword side only: find 50 + BM25 of 100 candidates": lambda s: store.keyword_scores(
            query_words(s), store.keyword_candidates(query_words(s), 50) + [cid for cid, _ in vi.search(vectors[s], 50)]
        ),
        "keyword side, word statistics not cached": keyword_side_uncached,
        "SQLite bm25() ranking of the OR query (before)": lambda s: _sqlite_bm25(fts, fts_match(s), 50),
        "allowed_caption_ids, date filter (~10%)": lambda s: store.allowed_caption_ids(
            SearchFilters(date_from="2016-01-01 00:00:00", date_to="2016-12-31 23:59:59")
        ),
        "allowed_caption_ids, object filter (~1.6%)": lambda s: store.allowed_caption_ids(
            SearchFilters(objects=("dog",))
        ),
    }
    out["latency_s"] = {name: timed_each(fn, texts) for name, fn in cases.items()}
    fts.close()
    store.close()
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def rebuild(home: str) -> dict[str, object]:
    """Drop the FAISS file and rebuild it from SQLite, as `picscribe index`
    does after a layout change or a lost cache: time and peak RSS."""
    from pathlib import Path

    from picscribe.store import VECTORS_NAME, Store

    from ._table import peak_rss_mb

    (Path(home) / VECTORS_NAME).unlink(missing_ok=True)
    t = time.perf_counter()
    with Store.open(home, create=False) as store:
        n = len(store.vector_index())
    return {
        "vectors": n,
        "rebuild_s": time.perf_counter() - t,
        "peak_rss_mb": peak_rss_mb(),
    }


if __name__ == "__main__":
    if sys.argv[1] == "--rebuild":
        print(json.dumps(rebuild(sys.argv[2])))
    else:
        print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))
