"""Sweep the dense/keyword fusion weights on a captioned eval folder.

Usage:
    .venv/bin/python bench/fusion_sweep.py EVAL_DIR [--captioner offline]

EVAL_DIR is laid out like coco-dev (see `picscribe eval`). Two tables of
R@1/R@5/R@10/median rank, one row per weighting:

- oracle: `picscribe eval`'s leave-one-out over the reference captions, which
  isolates the search stage;
- captioner: the images indexed once with --captioner, every reference a query.

`picscribe eval` reports the default weighting; this script is for choosing it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from picscribe.app import indexer_for
from picscribe.config import load_config
from picscribe.evaluation import RankStats, load_eval_set, run_oracle
from picscribe.indexer import choose
from picscribe.search import DEFAULT_WEIGHTS, FusionWeights, Retriever
from picscribe.store import Store

WEIGHTS = [(f"{w:.1f}/{1 - w:.1f}", FusionWeights(dense=w, keyword=round(1 - w, 2))) for w in (1.0, 0.9, 0.8, 0.7, 0.5)]
#: The shipped default: dense, plus words of the photo's text or place and quoted phrases (search/fusion.py).
WEIGHTS.append(("default", DEFAULT_WEIGHTS))


def row(name: str, stats: RankStats) -> str:
    return f"{name:>13} | {stats.r_at_1:.3f} | {stats.r_at_5:.3f} | {stats.r_at_10:.3f} | {stats.median_rank:g}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("--captioner", default="offline")
    args = parser.parse_args()
    items = load_eval_set(args.eval_dir).items
    cfg = load_config(Path(tempfile.mkdtemp(prefix="picscribe-sweep-")), captioner=args.captioner)
    header = "dense/keyword |  R@1  |  R@5  | R@10  | median rank"

    oracle = run_oracle(items, cfg, searches=WEIGHTS)
    print(f"\noracle: leave-one-out over the references ({oracle.folds} folds)\n{header}")
    for r in oracle.rows:
        print(row(r.name, r.ranks))

    with Store.open(cfg.home) as store:
        indexer = indexer_for(cfg, store, choose(args.captioner))
        report = indexer.index([Path(i.path) for i in items])
        queries = [(item.path, q) for item in items for q in item.captions]
        print(f"\ncaptioner {report.model_id}: every reference queried ({len(queries)} queries)\n{header}")
        for name, weights in WEIGHTS:
            retriever = Retriever(store, indexer.embedder, weights)
            ranks = []
            for path, query in queries:
                hits = [h.path for h in retriever.search(query, limit=len(items))]
                ranks.append(hits.index(path) + 1 if path in hits else len(items) + 1)
            print(row(name, RankStats.from_ranks(ranks)))


if __name__ == "__main__":
    main()
