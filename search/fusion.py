"""How dense (vector) and keyword (BM25) evidence are combined. The weights
live here and only here, so evaluation can tune them by measurement.

We use a convex combination of the cosine similarity and the min-max
normalised BM25 score rather than reciprocal-rank fusion: on caption
retrieval equal-weight RRF scored below dense alone (coco-dev, one caption
per image: R@1 0.725 RRF vs 0.80 dense), and a score-based fusion keeps a
meaningful absolute scale for --min-score. See Bruch et al., "An Analysis of
Fusion Functions for Hybrid Retrieval" (2023), which finds convex
combination beats RRF and needs few labelled queries to tune.

Measured on ../shared/eval/coco-dev (80 images) by `bench/fusion_sweep.py`,
R@1 (R@10):

    dense/keyword   oracle, leave-one-out (400 queries)   offline captioner v4 (400 queries)
    1.0 / 0.0       0.920 (1.000)                          0.507 (0.825)
    0.9 / 0.1       0.935 (1.000)                          0.537 (0.833)
    0.8 / 0.2       0.935 (0.998)                          0.527 (0.855)
    0.7 / 0.3       0.920 (0.995)                          0.520 (0.855)
    0.5 / 0.5       0.895 (0.993)                          0.520 (0.853)

0.9/0.1 has the best R@1 on both; heavier keyword weight trades R@1 for
R@10. The set is small: re-tune on more labelled photos.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FusionWeights:
    dense: float = 0.9
    keyword: float = 0.1
    #: How many candidates each retriever contributes, as a multiple of the
    #: requested result count (with a floor), before fusion re-ranks them.
    depth_factor: int = 5
    min_depth: int = 50


DEFAULT_WEIGHTS = FusionWeights()


def fuse(
    cosine: dict[int, float], bm25: dict[int, float], weights: FusionWeights = DEFAULT_WEIGHTS
) -> dict[int, float]:
    """Fused score per candidate id. Missing BM25 means "no keyword matched" (0)."""
    top = max(bm25.values(), default=0.0)
    ids = set(cosine) | set(bm25)
    return {
        i: weights.dense * cosine.get(i, 0.0) + weights.keyword * (bm25.get(i, 0.0) / top if top > 0 else 0.0)
        for i in ids
    }
