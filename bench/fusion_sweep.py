"""Sweep the dense/keyword fusion weights on a captioned eval folder.

Usage:
    .venv/bin/python bench/fusion_sweep.py EVAL_DIR [--captioner offline]

EVAL_DIR is laid out like coco-dev: captions.jsonl rows with "file" and
"captions". Two settings, each printed as a table of R@1/R@5/R@10/median rank:

- oracle: the first reference caption of each image is indexed as if it were
  generated; the other references are the queries (isolates the search stage);
- captioner: the images are captioned by --captioner and every reference is a query.

The `picscribe eval` command (its own issue) supersedes this script.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from indexer import choose
from picscribe.app import indexer_for
from picscribe.config import load_config
from search import FusionWeights, Retriever, SentenceTransformerEmbedder
from store import CaptionRecord, ImageRecord, Store

WEIGHTS = [1.0, 0.9, 0.8, 0.7, 0.5]


def ranks(retriever: Retriever, queries: list[tuple[str, str]], depth: int) -> np.ndarray:
    out = []
    for path, query in queries:
        hits = [h.path for h in retriever.search(query, limit=depth)]
        out.append(hits.index(path) + 1 if path in hits else depth + 1)
    return np.array(out)


def table(title: str, store: Store, embedder: SentenceTransformerEmbedder, queries: list[tuple[str, str]], depth: int) -> None:
    print(f"\n{title} ({len(queries)} queries)")
    print("dense | keyword |  R@1  |  R@5  | R@10  | median rank")
    for w in WEIGHTS:
        r = ranks(Retriever(store, embedder, FusionWeights(dense=w, keyword=round(1 - w, 2))), queries, depth)
        print(f"{w:5.2f} | {1 - w:7.2f} | {np.mean(r <= 1):.3f} | {np.mean(r <= 5):.3f} | {np.mean(r <= 10):.3f} | {np.median(r):g}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("--captioner", default="offline")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (args.eval_dir / "captions.jsonl").read_text().splitlines() if line.strip()]
    # os.path.abspath, as the scanner does: it also folds "..", so paths compare equal.
    paths = [os.path.abspath(args.eval_dir / r["file"]) for r in rows]

    cfg = load_config(Path(tempfile.mkdtemp(prefix="picscribe-sweep-")), captioner=args.captioner)
    embedder = SentenceTransformerEmbedder(cfg.embedder, cache_dir=cfg.cache_dir / "models")

    with Store.open(Path(tempfile.mkdtemp(prefix="picscribe-oracle-"))) as store:
        store.bind_embedder(embedder.name, embedder.dim)
        store.ensure_active_captioner("reference", "0")
        texts = [r["captions"][0] for r in rows]
        store.write_batch(
            images=[ImageRecord(p, 1, 1, f"ref{i}", 1, 1, "JPEG", None) for i, p in enumerate(paths)],
            captions=[
                CaptionRecord(f"ref{i}", "reference", "0", "caption", t, v)
                for i, (t, v) in enumerate(zip(texts, embedder.embed(texts)))
            ],
        )
        oracle_queries = [(p, q) for p, r in zip(paths, rows) for q in r["captions"][1:]]
        table("oracle: first reference indexed, the rest queried", store, embedder, oracle_queries, len(rows))

    with Store.open(cfg.home) as store:
        report = indexer_for(cfg, store, choose(args.captioner)).index([args.eval_dir])
        all_queries = [(p, q) for p, r in zip(paths, rows) for q in r["captions"]]
        table(f"captioner {report.model_id}: every reference queried", store, embedder, all_queries, len(rows))


if __name__ == "__main__":
    main()
