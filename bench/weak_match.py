"""Calibrate the "weak match" score: below it, the right photo is almost never the top hit.

Usage:
    .venv/bin/python bench/weak_match.py EVAL_DIR [--captioner offline]

EVAL_DIR is laid out like coco-dev (see `picscribe eval`). The images are
indexed once with --captioner, then searched two ways:

- every reference caption as a query, where the right photo is known: the
  top hit's fused score, and whether the top hit is that photo;
- queries that match nothing the default English embedder understands
  (German, Chinese, emoji, ...): the top hit's score, which should be weak.

One row per candidate threshold: how many matching queries' top hits fall
below it and how often those are right anyway (P@1 below), and how many
no-match queries it flags. The suggested threshold is the lowest one that
marks every no-match query weak while the right photo stays the top hit for
at most --max-precision of the matching queries below it.
`search/weak_match.py` holds the constant this chooses.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from picscribe.app import indexer_for, retriever_for
from picscribe.config import load_config
from picscribe.evaluation import load_eval_set
from picscribe.indexer import choose
from picscribe.store import Store

#: Queries the default (English) embedder cannot match: other languages,
#: emoji and nonsense. The first three are the issue's own examples.
NO_MATCH_QUERIES = [
    "ein Hund am Strand",
    "海滩上的狗",
    "🐶🏖️",
    "un chien sur la plage",
    "un perro en la playa",
    "ビーチの犬",
    "собака на пляже",
    "zwei Kinder spielen im Schnee",
    "一只猫在沙发上睡觉",
    "🍕🍕🍕",
    "😀",
    "xqzv plonk brindle",
    "Steuererklärung 2023",
    "il gatto dorme sul divano",
    "kolmas kerros",
    "ترکیب رنگ",
]

THRESHOLDS = [round(0.15 + 0.025 * i, 3) for i in range(15)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("--captioner", default="offline")
    parser.add_argument("--max-precision", type=float, default=0.20)
    args = parser.parse_args()
    items = load_eval_set(args.eval_dir).items
    cfg = load_config(Path(tempfile.mkdtemp(prefix="picscribe-weak-")), captioner=args.captioner)

    with Store.open(cfg.home) as store:
        choice = choose(args.captioner)
        report = indexer_for(cfg, store, choice).index([Path(i.path) for i in items])
        retriever = retriever_for(cfg, store)
        matching: list[tuple[float, bool]] = []
        for item in items:
            for query in item.captions:
                hits = retriever.search(query, limit=1)
                if hits:
                    matching.append((hits[0].score, hits[0].path == item.path))
        no_match = [hits[0].score for q in NO_MATCH_QUERIES if (hits := retriever.search(q, limit=1))]

    print(
        f"\ncaptioner {report.model_id} on {args.eval_dir} ({len(items)} images, {report.failed} failed, "
        f"indexed in {report.seconds:.1f} s: {report.seconds / max(1, len(items)):.2f} s/image)"
    )
    print(f"matching queries: {len(matching)}, P@1 {sum(ok for _, ok in matching) / len(matching):.3f}")
    print(f"no-match queries: {len(no_match)}, top score max {max(no_match):.3f}, min {min(no_match):.3f}")
    print("\nthreshold | matching below | P@1 below | P@1 at/above | no-match below")
    suggested = None
    for t in THRESHOLDS:
        below = [ok for s, ok in matching if s < t]
        above = [ok for s, ok in matching if s >= t]
        p_below = sum(below) / len(below) if below else 0.0
        p_above = sum(above) / len(above) if above else float("nan")
        flagged = sum(s < t for s in no_match) / len(no_match)
        print(f"{t:9.3f} | {len(below) / len(matching):14.3f} | {p_below:9.3f} | {p_above:12.3f} | {flagged:14.3f}")
        if suggested is None and flagged == 1.0 and p_below <= args.max_precision:
            suggested = t
    print(
        f"\nsuggested threshold (lowest flagging every no-match query, P@1 below <= {args.max_precision}): {suggested}"
    )


if __name__ == "__main__":
    main()
