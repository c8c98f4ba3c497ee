"""How dense (vector) and keyword evidence are combined. The weights
live here and only here, so evaluation can tune them by measurement.

The default is dense retrieval, with keyword evidence only where it knows
something the caption's vector does not: words of the query read in the
photo (OCR) or naming the place it was taken, and quoted phrases found
verbatim. Caption-wide BM25 is off by default, because on photos it was not
tuned on it ties dense at best.

Measured by `bench/fusion_cv.py` (issue 19): each image indexed with ONE
human caption, queried with its others, every caption in turn (coco-dev
1,600 queries over 80 images; flickr-dev 6,000 over 300); families tuned by
5-fold cross-validation on coco-dev images, R@1 / R@10 on held-out folds
(mean of 5):

    dense                                    0.817 / 0.993
    BM25 alone                               0.636 / 0.911
    old hybrid 0.9 cos + 0.1 BM25/top BM25   0.818 / 0.994
    cos + w * BM25/(BM25+k)                  0.823 / 0.993
    cos + w * matched share of query IDF     0.821 / 0.992
    z-scores of both                         0.821 / 0.993
    weighted RRF                             0.806 / 0.993
    rare words only                          0.819 / 0.993
    dense top-N reordered by BM25            0.817 / 0.993

No family gains the +0.02 R@1 over dense that would pay for it (the best,
+0.006, is within one fold's noise); the issue's own held-out Flickr
figures show the old hybrid tying dense too (R@1 0.509 vs 0.510). The
bench's flickr-dev table (rules tuned on coco-dev, applied unchanged) is
slow on a busy machine and was not finished for this note. The real
Retriever reproduces the numpy rules exactly (old hybrid 0.818 / 0.994;
the new default, with no text in the photos and no places, equals dense).
Hence ``DEFAULT_WEIGHTS``:
cosine, plus ``text`` times the share of the query's words found in the
photo's own text or place name, plus ``phrase`` times the share of its
quoted phrases found word for word in the caption, text in the photo, tags,
objects or place. With captions alone (no OCR, no place, no quotes) it ranks
exactly as dense does. ``text`` and ``phrase`` are set by principle, not
tuned: no labelled photos with text or places exist here; a full match of a
sign's words (+0.2) outweighs the cosine gaps between near captions
(~0.05) but not a clearly better caption.

The old convex combination with min-max BM25 (``keyword``) stays available
(``FusionWeights(dense=0.9, keyword=0.1)``) for comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .explain import Matched


@dataclass(frozen=True)
class FusionWeights:
    dense: float = 1.0
    #: BM25 over every field, divided by the best candidate's.
    keyword: float = 0.0
    #: The share of the query's words found in the photo's text (OCR) or place name.
    text: float = 0.0
    #: The share of the query's quoted phrases found verbatim in any field.
    phrase: float = 0.0
    #: How many candidates each retriever contributes, as a multiple of the
    #: requested result count (with a floor), before fusion re-ranks them.
    depth_factor: int = 5
    min_depth: int = 50


DEFAULT_WEIGHTS = FusionWeights(dense=1.0, keyword=0.0, text=0.2, phrase=0.5)
#: The weighting before issue 19, for comparison.
OLD_HYBRID = FusionWeights(dense=0.9, keyword=0.1)


def fuse(
    cosine: Mapping[int, float],
    bm25: Mapping[int, float],
    weights: FusionWeights = DEFAULT_WEIGHTS,
    text: Mapping[int, float] | None = None,
    phrases: Mapping[int, float] | None = None,
) -> dict[int, float]:
    """Fused score per candidate id. A missing entry means "nothing matched"
    (0): ``bm25`` raw, ``text`` and ``phrases`` as shares in [0, 1]."""
    text = text or {}
    phrases = phrases or {}
    top = max(bm25.values(), default=0.0)
    ids = set(cosine) | set(bm25) | set(text) | set(phrases)
    return {
        i: weights.dense * cosine.get(i, 0.0)
        + weights.keyword * (bm25.get(i, 0.0) / top if top > 0 else 0.0)
        + weights.text * text.get(i, 0.0)
        + weights.phrase * phrases.get(i, 0.0)
        for i in ids
    }


def text_share(matched: Matched, query_words: int, *, exact_tags: bool = False) -> float:
    """The share of the query's ``query_words`` words found in the photo's
    own text (OCR) or its place name: what a caption's vector cannot know.
    ``exact_tags``: a person's keywords (a Lightroom or digiKam sidecar, an
    edit) count too, since a rare keyword ("quillwort") is exactly such a
    word; a captioner's generated tags do not, the dense side already has them."""
    found = set(matched.ocr) | set(matched.place) | (set(matched.tags) if exact_tags else set())
    return len(found) / query_words if query_words else 0.0
