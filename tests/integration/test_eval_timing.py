"""`eval`'s captioning times: the first image alone (it pays for model loading),
the others per image, so that a backend's steady speed is not hidden by its start."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from PIL import Image
from support.paths import SAMPLES

from picscribe.evaluation import load_eval_set, run_captions
from picscribe.indexer import FakeCaptioner
from picscribe.indexer.captioning import TASK_CAPTION, CaptionResult
from picscribe.indexer.decode import DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE

#: Seconds a first call spends "loading the model", and each image takes after that.
LOADING = 0.4
PER_IMAGE = 0.1


class SlowCaptioner(FakeCaptioner):
    """The fake captioner at a known speed, with a known start-up cost."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded = False

    def caption(self, images: Sequence[Image.Image], task: str = TASK_CAPTION) -> list[CaptionResult]:
        time.sleep((0.0 if self.loaded else LOADING) + PER_IMAGE * len(images))
        self.loaded = True
        return super().caption(images, task)


def test_the_first_image_is_timed_apart_and_the_rest_per_image(tmp_path: Path) -> None:
    folder = tmp_path / "evalset"
    (folder / "images").mkdir(parents=True)
    rows = [json.loads(line) for line in (SAMPLES.parent / "captions.jsonl").read_text().splitlines()[:4]]
    for row in rows:
        shutil.copy2(SAMPLES.parent / row["file"], folder / row["file"])
    (folder / "captions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    items = load_eval_set(folder).items
    assert len(items) == 4

    result = run_captions(
        items, SlowCaptioner(), batch_size=8, max_pixels=DEFAULT_MAX_PIXELS, max_side=DEFAULT_MAX_SIDE
    )

    assert result.images == 4 and not result.failures
    assert result.first_image_seconds >= LOADING + PER_IMAGE
    # The other three went as one batch of 0.3 s: 0.1 s each, with none of the loading in it.
    # (The upper bound leaves a loaded machine 0.3 s of slack for one call.)
    assert PER_IMAGE <= result.seconds_per_image < 2 * PER_IMAGE
