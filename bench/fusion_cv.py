"""Cross-validated fusion of dense and keyword evidence (issue 19).

Usage:
    OMP_NUM_THREADS=1 .venv/bin/python bench/fusion_cv.py [--tune COCO_DIR] [--check FLICKR_DIR]

The protocol isolates the search stage: each image is indexed with ONE of
its human captions and searched for with each of the others; every caption
takes its turn as the indexed one (5 rotations), so coco-dev gives 1,600
queries over 80 images and flickr-dev 6,000 over 300.

Each query's evidence is taken from a real index (a real Store per
rotation): the cosine to every image's caption vector, and the BM25 of each
query word against every caption, from the store's own keyword scorer
(``Store.keyword_scores``: SQLite's tokenizer, porter stems). Fusion rules
are then scored in numpy, so a grid costs seconds. Ties count as a random
draw among the tied (R@k is the expected value).

Cross-validation is by image: coco-dev's images are split into 5 folds;
each rule family's parameters are chosen on the queries of 4 folds (highest
R@1 among settings whose R@10 is not below dense's on those folds) and
scored on the 5th. The fold table shows dense, keyword (BM25 alone), the old
hybrid (0.9 cosine + 0.1 BM25 / top BM25) and each tuned family, then the
rule tuned on all of coco-dev applied unchanged to flickr-dev.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from picscribe.app import embedder_for
from picscribe.config import load_config
from picscribe.evaluation import load_eval_set
from picscribe.indexer import TASK_CAPTION
from picscribe.search import Retriever
from picscribe.search.fusion import DEFAULT_WEIGHTS, OLD_HYBRID
from picscribe.search.query import query_words
from picscribe.store import CaptionRecord, ImageRecord, Store, TextEmbedder

_SHARED_EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
FOLDS = 5
SEED = 19


@dataclass(frozen=True)
class Evidence:
    """Per query: what it looks for (``target``), its cosine to every image
    (``cos``), and each word's BM25 against every image (``words`` rows)."""

    target: np.ndarray  # (Q,) image index
    cos: np.ndarray  # (Q, N)
    per_word: list[np.ndarray]  # Q arrays of (W_q, N)
    df: list[np.ndarray]  # Q arrays of (W_q,): images holding each word
    n_images: int
    #: The rank the real Retriever gives the target, per weighting in RETRIEVER_RUNS: (Q,) each.
    real: dict[str, np.ndarray]

    def bm25(self) -> np.ndarray:
        return np.stack([w.sum(axis=0) if len(w) else np.zeros(self.n_images) for w in self.per_word])

    def subset(self, mask: np.ndarray) -> Evidence:
        idx = np.flatnonzero(mask)
        return Evidence(
            self.target[idx],
            self.cos[idx],
            [self.per_word[i] for i in idx],
            [self.df[i] for i in idx],
            self.n_images,
            {name: ranks[idx] for name, ranks in self.real.items()},
        )


#: Searched through the real Retriever too, as a check on the numpy rules
#: (old hybrid) and to score the shipped default as users get it.
RETRIEVER_RUNS = (("old hybrid (Retriever)", OLD_HYBRID), ("new default (Retriever)", DEFAULT_WEIGHTS))


class _Known:
    """An embedder that answers from vectors already made (every query is a caption)."""

    def __init__(self, inner: TextEmbedder, vectors: dict[str, np.ndarray]) -> None:
        self.name, self.dim, self._vectors = inner.name, inner.dim, vectors

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vectors[t] for t in texts])


def _synthetic_hash(item: str, rotation: int) -> str:
    import hashlib

    return hashlib.sha256(f"fusion-cv:{rotation}:{item}".encode()).hexdigest()


def gather(folder: Path, embedder: TextEmbedder) -> Evidence:
    """Index one caption per image (each rotation in its own store) and record every query's evidence."""
    items = [i for i in load_eval_set(folder).items if len(i.captions) >= 2]
    rotations = min(len(i.captions) for i in items)
    texts = sorted({c for i in items for c in i.captions[:rotations]})
    vec = dict(zip(texts, embedder.embed(texts), strict=True))
    targets: list[int] = []
    cos_rows: list[np.ndarray] = []
    per_word: list[np.ndarray] = []
    dfs: list[np.ndarray] = []
    real: dict[str, list[int]] = {name: [] for name, _ in RETRIEVER_RUNS}
    known = _Known(embedder, vec)
    with tempfile.TemporaryDirectory(prefix="picscribe-fusion-cv-") as tmp:
        for rot in range(rotations):
            with Store.open(Path(tmp) / f"rot{rot}") as store:
                store.bind_embedder(embedder.name, embedder.dim)
                store.ensure_active_captioner("reference", "one-caption")
                records = [
                    ImageRecord(item.path, 0, 0, _synthetic_hash(item.path, rot), 0, 0, "reference", None)
                    for item in items
                ]
                captions = [
                    CaptionRecord(
                        r.content_hash,
                        "reference",
                        "one-caption",
                        TASK_CAPTION,
                        i.captions[rot],
                        vec[i.captions[rot]],
                        human=True,
                    )
                    for r, i in zip(records, items, strict=True)
                ]
                store.write_batch(images=records, captions=captions)
                index = store.vector_index()
                by_path: dict[str, int] = {}
                for cid, rows in store.hit_rows([int(x) for x in index.ids()]).items():
                    for row in rows:
                        by_path[row.path] = cid
                cids = [by_path[i.path] for i in items]
                gallery = np.stack([vec[i.captions[rot]] for i in items])
                for n, item in enumerate(items):
                    for q, query in enumerate(item.captions[:rotations]):
                        if q == rot:
                            continue
                        targets.append(n)
                        cos_rows.append(gallery @ vec[query])
                        words = query_words(query)
                        rows_w = []
                        for w in words:
                            scores = store.keyword_scores([w], cids)
                            rows_w.append(np.array([scores.get(c, 0.0) for c in cids]))
                        m = np.stack(rows_w) if rows_w else np.zeros((0, len(items)))
                        per_word.append(m)
                        dfs.append((m > 0).sum(axis=1))
                        for name, weights in RETRIEVER_RUNS:
                            hits = [h.path for h in Retriever(store, known, weights).search(query, limit=len(items))]
                            real[name].append(hits.index(item.path) + 1 if item.path in hits else len(items) + 1)
    real_ranks = {name: np.array(ranks) for name, ranks in real.items()}
    return Evidence(np.array(targets), np.stack(cos_rows), per_word, dfs, len(items), real_ranks)


# -- scoring -------------------------------------------------------------------


def recall(scores: np.ndarray, target: np.ndarray, k: int) -> float:
    """Expected R@k when ties are broken at random."""
    own = scores[np.arange(len(target)), target][:, None]
    greater = (scores > own).sum(axis=1)
    tied = (scores == own).sum(axis=1) - 1
    return float(np.clip((k - greater) / (tied + 1), 0, 1).mean())


def ranks_of(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each column per row (best = 1; ties share their best rank)."""
    order = (-scores).argsort(axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(scores.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, scores.shape[1] + 1)
    return ranks


Rule = Callable[[Evidence], np.ndarray]


def dense(ev: Evidence) -> np.ndarray:
    return ev.cos


def keyword(ev: Evidence) -> np.ndarray:
    return ev.bm25()


def old_hybrid(ev: Evidence) -> np.ndarray:
    bm = ev.bm25()
    top = bm.max(axis=1, keepdims=True)
    return 0.9 * ev.cos + 0.1 * np.divide(bm, top, out=np.zeros_like(bm), where=top > 0)


def squashed(w: float, k: float) -> Rule:
    """BM25 squashed by a fixed constant, s / (s + k): no dependence on the top hit."""
    return lambda ev: ev.cos + w * (bm := ev.bm25()) / (bm + k)


def matched_share(w: float) -> Rule:
    """The share of the query's IDF mass each image matches (BM25 over its most a perfect match scores)."""

    def rule(ev: Evidence) -> np.ndarray:
        out = np.zeros_like(ev.cos)
        for q, m in enumerate(ev.per_word):
            if len(m):
                top = m.max(axis=1, keepdims=True)
                share = np.divide(m, top, out=np.zeros_like(m), where=top > 0)
                weight = np.log((ev.n_images + 1) / (ev.df[q] + 0.5))[:, None]
                out[q] = (share * weight).sum(axis=0) / max(weight.sum(), 1e-9)
        return ev.cos + w * out

    return rule


def zscore(w: float) -> Rule:
    """Both signals standardised over the library (mean and spread, not the top hit)."""

    def z(x: np.ndarray) -> np.ndarray:
        return (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-9)

    return lambda ev: z(ev.cos) + w * z(ev.bm25())


def rrf(w: float, k: float) -> Rule:
    """Weighted reciprocal-rank fusion; images no word matches get no keyword term."""

    def rule(ev: Evidence) -> np.ndarray:
        bm = ev.bm25()
        kw = np.where(bm > 0, 1.0 / (k + ranks_of(bm)), 0.0)
        return 1.0 / (k + ranks_of(ev.cos)) + w * kw

    return rule


def rare_words(w: float, max_df_share: float) -> Rule:
    """Only rare words (held by at most this share of the library) add keyword evidence, squashed."""

    def rule(ev: Evidence) -> np.ndarray:
        out = np.zeros_like(ev.cos)
        for q, m in enumerate(ev.per_word):
            keep = ev.df[q] <= max_df_share * ev.n_images
            if keep.any():
                s = m[keep].sum(axis=0)
                out[q] = s / (s + 2.0)
        return ev.cos + w * out

    return rule


def dense_window(w: float, window: int) -> Rule:
    """Dense first: keyword evidence only reorders the dense top ``window``."""

    def rule(ev: Evidence) -> np.ndarray:
        bm = ev.bm25()
        inside = ranks_of(ev.cos) <= window
        return np.where(inside, 10.0 + ev.cos + w * bm / (bm + 2.0), ev.cos)

    return rule


Family = tuple[str, list[tuple[str, Rule]]]


def families() -> list[Family]:
    ws = (0.02, 0.05, 0.1, 0.2, 0.3)
    return [
        (
            "squashed s/(s+k)",
            [(f"w={w} k={k}", squashed(w, k)) for w, k in itertools.product(ws, (1.0, 2.0, 4.0, 8.0))],
        ),
        ("idf share", [(f"w={w}", matched_share(w)) for w in ws]),
        ("z-score", [(f"w={w}", zscore(w)) for w in (0.05, 0.1, 0.2, 0.3, 0.5)]),
        ("weighted RRF", [(f"w={w} k={k}", rrf(w, k)) for w, k in itertools.product((0.1, 0.2, 0.3, 0.5), (10, 60))]),
        (
            "rare words only",
            [(f"w={w} df<={d}", rare_words(w, d)) for w, d in itertools.product(ws, (0.02, 0.05, 0.1))],
        ),
        ("dense window", [(f"w={w} top{n}", dense_window(w, n)) for w, n in itertools.product(ws, (3, 5, 10))]),
    ]


def tune(ev: Evidence, rules: Sequence[tuple[str, Rule]]) -> tuple[str, Rule]:
    """Highest R@1 among the rules whose R@10 is not below dense's (else the best R@10)."""
    floor = recall(ev.cos, ev.target, 10)
    scored = [(recall(s := rule(ev), ev.target, 1), recall(s, ev.target, 10), name, rule) for name, rule in rules]
    ok = [r for r in scored if r[1] >= floor] or sorted(scored, key=lambda r: -r[1])[:1]
    best = max(ok, key=lambda r: (r[0], r[1]))
    return best[2], best[3]


def folds_of(n_images: int) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    return rng.permutation(np.arange(n_images) % FOLDS)


def cross_validate(ev: Evidence) -> Iterator[str]:
    fold_of_image = folds_of(ev.n_images)
    fold = fold_of_image[ev.target]
    fixed: list[tuple[str, Rule]] = [("dense", dense), ("keyword", keyword), ("old hybrid", old_hybrid)]
    fams = families()
    cols = [name for name, _ in fixed] + [name for name, _ in RETRIEVER_RUNS] + [name for name, _ in fams]
    per_fold: dict[str, list[tuple[float, float]]] = {c: [] for c in cols}
    chosen: dict[str, list[str]] = {name: [] for name, _ in fams}
    for f in range(FOLDS):
        train, test = ev.subset(fold != f), ev.subset(fold == f)
        for name, rule in fixed:
            s = rule(test)
            per_fold[name].append((recall(s, test.target, 1), recall(s, test.target, 10)))
        for name, ranks in test.real.items():
            per_fold[name].append((float((ranks <= 1).mean()), float((ranks <= 10).mean())))
        for name, rules in fams:
            label, rule = tune(train, rules)
            chosen[name].append(label)
            s = rule(test)
            per_fold[name].append((recall(s, test.target, 1), recall(s, test.target, 10)))
    yield (f"{'held-out fold R@1/R@10':<24} | " + " | ".join(f"fold {f + 1:<6}" for f in range(FOLDS)) + " | mean")
    for c in cols:
        cells = " | ".join(f"{r1:.3f}/{r10:.3f}" for r1, r10 in per_fold[c])
        m1 = np.mean([r for r, _ in per_fold[c]])
        m10 = np.mean([r for _, r in per_fold[c]])
        yield f"{c:<24} | {cells} | {m1:.3f}/{m10:.3f}"
    yield ""
    for name, labels in chosen.items():
        yield f"tuned on 4 folds, {name}: " + ", ".join(labels)


def check(ev: Evidence, tuned: Sequence[tuple[str, str, Rule]]) -> Iterator[str]:
    rows: list[tuple[str, Rule]] = [("dense", dense), ("keyword", keyword), ("old hybrid", old_hybrid)]
    rows += [(f"{fam} ({label})", rule) for fam, label, rule in tuned]
    for name, rule in rows:
        s = rule(ev)
        r1, r5, r10 = (recall(s, ev.target, k) for k in (1, 5, 10))
        yield f"{name:<40} | {r1:.3f} | {r5:.3f} | {r10:.3f}"
    for name, ranks in ev.real.items():
        r1, r5, r10 = (float((ranks <= k).mean()) for k in (1, 5, 10))
        yield f"{name:<40} | {r1:.3f} | {r5:.3f} | {r10:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tune", type=Path, default=_SHARED_EVAL / "coco-dev")
    parser.add_argument("--check", type=Path, nargs="*", default=[_SHARED_EVAL / "flickr-dev"])
    args = parser.parse_args()
    # The configured embedder (the default unless PICSCRIBE_EMBEDDER says otherwise).
    embedder = embedder_for(load_config(Path(tempfile.mkdtemp(prefix="picscribe-fusion-cv-home-"))))
    coco = gather(args.tune, embedder)
    print(f"{args.tune.name}: {len(coco.target)} queries over {coco.n_images} images, one caption indexed per image")
    for line in cross_validate(coco):
        print(line)
    tuned = [(fam, *tune(coco, rules)) for fam, rules in families()]
    for folder in args.check:
        ev = gather(folder, embedder)
        print(f"\n{folder.name} (untouched; rules tuned on all of {args.tune.name}): {len(ev.target)} queries")
        print(f"{'rule':<40} |  R@1  |  R@5  | R@10")
        for line in check(ev, tuned):
            print(line)


if __name__ == "__main__":
    main()
