"""How dense (vector) and keyword (BM25) evidence are combined. The weights
live here and only here, so evaluation can tune them by measurement.

We use a convex combination of the cosine similarity and the min-max
normalised BM25 score rather than reciprocal-rank fusion: on caption
retrieval equal-weight RRF scored below dense alone (coco-dev, one caption
per image: R@1 0.725 RRF vs 0.80 dense), and a score-based fusion keeps a
meaningful absolute scale for --min-score. See Bruch et al., "An Analysis of
Fusion Functions for Hybrid Retrieval" (2023), which finds convex
combination beats RRF and needs few labelled queries to tune.

Measured on ../shared/eval/coco-dev (80 images; R@1, each reference caption
as a query; `bench/fusion_sweep.py`):

    dense/keyword   human captions (oracle, 1 indexed, 4 queried)   offline captioner (5 queried)
    1.0 / 0.0       0.822                                            0.305
    0.9 / 0.1       0.828                                            0.340
    0.8 / 0.2       0.803                                            0.330
    0.7 / 0.3       -                                                0.325
    0.5 / 0.5       0.747                                            -

0.9/0.1 is best on both; the evaluation issue should re-tune on more data.
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
