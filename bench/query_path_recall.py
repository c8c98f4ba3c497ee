"""Recall with queries embedded both ways: numpy (what `picscribe search` uses)
against sentence-transformers (what it used before), on one labelled set.

``python bench/query_path_recall.py EVAL_DIR [--limit N]`` prints JSON: R@1/5/10
and the median rank for each query path, under each oracle search (bm25,
dense, hybrid).

The protocol is ``picscribe eval --mode oracle``: each image is indexed by its
human reference captions (leave one out: the others joined, embedded by
sentence-transformers as indexing embeds captions) and searched for with the
held-out reference. No captioner runs, so the only difference between the two
runs is how the query is embedded. bm25 uses no query vector: it must agree.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from picscribe import app
from picscribe.config import load_config
from picscribe.evaluation import load_eval_set, run_oracle
from picscribe.search import SentenceEmbedder, SentenceTransformerEmbedder


class _Documents:
    """Captions embedded by sentence-transformers, as indexing does; queries by ``queries``."""

    def __init__(self, documents: SentenceTransformerEmbedder, queries: SentenceTransformerEmbedder) -> None:
        self._documents, self._queries = documents, queries
        self.name, self.dim = documents.name, documents.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._documents.embed(texts)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._queries.embed(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    cfg = load_config()
    items = load_eval_set(args.folder).items[: args.limit]
    cache = cfg.cache_dir / "models"
    documents = SentenceTransformerEmbedder(cfg.embedder, cache_dir=cache)
    numpy_queries = SentenceEmbedder(cfg.embedder, cache_dir=cache)
    assert numpy_queries._numpy_encoder() is not None, "this model has no numpy query path"
    out: dict[str, dict[str, object]] = {}
    for path, queries in (("numpy", numpy_queries), ("sentence-transformers", documents)):
        embedder = _Documents(documents, queries)
        setattr(app, "embedder_for", lambda cfg, store=None, e=embedder: e)  # noqa: B010  # the oracle's one seam
        result = run_oracle(items, cfg)
        out[path] = {row.name: row.ranks.to_dict() for row in result.rows}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
