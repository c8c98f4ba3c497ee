"""Run the offline captioner's models over a batch: one after another, or several at once.

Every model here is small, and a small network spread over two cores spends
much of its time waiting for the other core: OpenMP and ONNX Runtime threads
spin while they wait, which under load burns the CPU another stage could use.
So on a machine with more than one core the models run one core each, and
as many run at the same time as there are cores: each photo's detector,
faces and OCR are tasks of their own, the classifiers take the batch at once,
and the tasks are shared out to the threads as they come free. Measured with
``python -m bench.offline_stages`` on 2 cores (numbers in its docstring):
the caption call needs about a third less CPU per photo, for about 0.45 GB
more peak memory (a second OCR engine and its buffers: 1.44 GB against
1.00 GB over 24 flickr-dev photos).

``PICSCRIBE_OFFLINE_THREADS=1`` runs them one after another instead, each
model free to use every core, as before this existed; ``N`` runs N at once.
The findings are the same either way: each model sees the same pixels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image

from ._findings import Detection, Face

if TYPE_CHECKING:
    from ._models import OfflineModels

THREADS_ENV = "PICSCRIBE_OFFLINE_THREADS"
#: With no setting, one thread per usable core up to this many: measured on 2
#: cores only, and the models' memory grows with each thread's OCR engine.
MAX_DEFAULT_THREADS = 4


def stage_threads() -> int:
    """How many models run at once: ``PICSCRIBE_OFFLINE_THREADS``, else the usable cores (at most 4)."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{THREADS_ENV} must be a whole number of threads, 1 or more, not {raw!r}")
        return int(raw)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, MAX_DEFAULT_THREADS))


@dataclass(frozen=True)
class Findings:
    """What the models saw in a batch, one entry per image, in the batch's order."""

    probs: list[list[float]]
    nsfw: list[float]
    detections: list[list[Detection]]
    faces: list[list[Face]]
    text: list[str]


def find(models: OfflineModels, images: Sequence[Image.Image], min_score: float, threads: int) -> Findings:
    """Run every model over ``images``; ``threads`` of them at a time (1: in this thread, in turn)."""
    if threads <= 1 or not images:
        return Findings(
            models.classify(images),
            models.nsfw(images),
            models.detect(images, min_score),
            [models.faces(image) for image in images],
            [models.read_text(image) for image in images],
        )
    with ThreadPoolExecutor(threads, thread_name_prefix="offline-model") as pool:
        # The slow per-image tasks first, so the batch-wide ones fill the gaps at the end.
        per_image = [
            (pool.submit(models.detect, [image], min_score), pool.submit(models.read_text, image)) for image in images
        ]
        faces = [pool.submit(models.faces, image) for image in images]
        probs = pool.submit(models.classify, images)
        nsfw = pool.submit(models.nsfw, images)
        return Findings(
            probs.result(),
            nsfw.result(),
            [detect.result()[0] for detect, _ in per_image],
            [f.result() for f in faces],
            [read.result() for _, read in per_image],
        )


def read_texts(models: OfflineModels, images: Sequence[Image.Image], threads: int) -> list[str]:
    """OCR alone (the ``ocr`` task), ``threads`` images at a time."""
    if threads <= 1 or len(images) < 2:
        return [models.read_text(image) for image in images]
    with ThreadPoolExecutor(threads, thread_name_prefix="offline-ocr") as pool:
        return list(pool.map(models.read_text, images))
