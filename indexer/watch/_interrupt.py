"""Let a watcher stop in the middle of a long indexing run.

The pipeline already ends a run cleanly when its captioner raises
CaptionerStopped (an API budget spent): what is committed stays, nothing is
forgotten, and the next run picks up the rest. Wrapping the captioner so that
it raises just that once the watcher is asked to stop gives shutdown the same
guarantees, one model batch after the signal.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from ..captioning import TASK_CAPTION, Captioner, CaptionerStopped, CaptionResult


class StopAwareCaptioner:
    def __init__(self, inner: Captioner, stopping: threading.Event) -> None:
        self._inner = inner
        self._stopping = stopping

    def caption(self, images: Sequence[Any], task: str = TASK_CAPTION) -> list[CaptionResult]:
        if self._stopping.is_set():
            raise CaptionerStopped("the watcher is stopping")
        return self._inner.caption(images, task)

    def __getattr__(self, name: str) -> Any:
        # name, model_id, tasks, usage, concurrency: whatever the backend has.
        return getattr(self._inner, name)
