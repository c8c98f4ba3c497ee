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

from PIL import Image

from ..captioning import TASK_CAPTION, Answer, Captioner, CaptionerStopped, CaptionResult, Usage, answers_questions


class StopAwareCaptioner:
    """The wrapped captioner, with its declared capabilities forwarded, that stops on request."""

    def __init__(self, inner: Captioner, stopping: threading.Event) -> None:
        self._inner = inner
        self._stopping = stopping

    def caption(self, images: Sequence[Image.Image], task: str = TASK_CAPTION) -> list[CaptionResult]:
        if self._stopping.is_set():
            raise CaptionerStopped("the watcher is stopping")
        return self._inner.caption(images, task)

    def ask(self, images: Sequence[Image.Image], questions: Sequence[str]) -> list[Answer]:
        if not answers_questions(self._inner):
            raise TypeError(f"captioner {self._inner.name} cannot answer questions")
        return self._inner.ask(images, questions)

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def tasks(self) -> frozenset[str]:
        return self._inner.tasks

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    @property
    def can_ask(self) -> bool:
        return self._inner.can_ask

    @property
    def metered(self) -> bool:
        return self._inner.metered

    @property
    def max_concurrency(self) -> int:
        return self._inner.max_concurrency

    @property
    def reads_metadata(self) -> bool:
        return self._inner.reads_metadata

    @property
    def usage(self) -> Usage | None:
        return self._inner.usage

    def close(self) -> None:
        self._inner.close()
