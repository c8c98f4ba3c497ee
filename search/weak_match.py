"""When a hit is too weak to trust: the score below which the right photo is
almost never the top hit.

Without it a query the embedder cannot understand (another language, emoji)
still returns a full page of confident-looking results. Scores are only
comparable within one embedder, so the threshold is calibrated per embedder;
one without a calibration marks nothing weak.

Calibrated on ../shared/eval/coco-dev (80 images, indexed with the offline
captioner v4) by

    .venv/bin/python bench/weak_match.py ../shared/eval/coco-dev --captioner offline

Each of the 400 reference captions is a query whose right photo is known
(P@1 0.537 over all of them); 16 queries in other languages, emoji and
nonsense match nothing (their top scores: 0.202 to 0.341). By the top hit's
fused score:

    threshold   matching below   P@1 below   no-match below
    0.250       0.007            0.000       0.250
    0.300       0.050            0.150       0.750
    0.350       0.098            0.179       1.000
    0.400       0.165            0.197       1.000
    0.450       0.242            0.258       1.000

0.35 is the lowest that marks every no-match query weak; the one matching
query in ten that scores below it finds its photo first less than one time
in five. Only the offline captioner's captions were measured; captions
worded more like the queries (a VLM's, a person's) should score a real match
higher. The set is small: re-check on more photos.
"""

from __future__ import annotations

from .embedder import DEFAULT_EMBEDDER

#: Fused score (see fusion.py) below which a hit is weak, per embedder name.
WEAK_MATCH_SCORES: dict[str, float] = {DEFAULT_EMBEDDER: 0.35}


def weak_match_score(embedder_name: str) -> float | None:
    """The calibrated threshold for this embedder, or None when it has none."""
    return WEAK_MATCH_SCORES.get(embedder_name)
