"""A captioner plugin for the Ray engine's fault tests: FakeCaptioner's captions, steered by files.

``--captioner flaky:FOLDER``: FOLDER holds the controls, so worker processes
(which see no test fixture) read the same ones as the driver.

- ``crash-once``: the first caption call that finds it deletes it and kills
  its own process (``os._exit``), as a GPU driver fault or the OOM killer would;
- ``delay``: seconds to sleep per image, so a run lasts long enough to be killed;
- ``run``: a label written, with each captioned file's path, to ``captioned.log``
  (read when the captioner is built: a late line from an old run keeps its label).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from PIL import Image

from picscribe import BaseCaptioner, CaptionResult, FakeCaptioner
from picscribe.indexer.decode import SOURCE_PATH


class FlakyCaptioner(BaseCaptioner):
    name: ClassVar[str] = "flaky"

    def __init__(self, *, device: str = "auto", model: str | None = None) -> None:
        if not model:
            raise ValueError("flaky needs its control folder: --captioner flaky:FOLDER")
        self._controls = Path(model)
        run = self._controls / "run"
        self._run = run.read_text().strip() if run.exists() else "-"
        self._fake = FakeCaptioner()

    @property
    def model_id(self) -> str:
        return "flaky-v1"

    def caption(self, images: Sequence[Image.Image], task: str = "caption") -> list[CaptionResult]:
        try:
            (self._controls / "crash-once").unlink()
        except FileNotFoundError:
            pass
        else:
            os._exit(1)
        delay = self._controls / "delay"
        if delay.exists():
            time.sleep(float(delay.read_text()) * len(images))
        results = self._fake.caption(images, task)
        with open(self._controls / "captioned.log", "a", encoding="utf-8") as log:
            log.writelines(f"{self._run}\t{img.info[SOURCE_PATH]}\n" for img in images)
        return results
