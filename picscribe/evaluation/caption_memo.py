"""Ask the captioner once per photo across all of `eval`'s modes.

`eval --mode all` captions the photos to score the captions, then indexes
the same photos to score retrieval. Both decode a file to the same pixels,
so the second ask can be answered from the first: an API backend is paid
once per photo, and a slow VLM runs once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from PIL import Image

from picscribe.indexer import (
    TASK_CAPTION,
    Answer,
    Captioner,
    CaptionerStopped,
    CaptionResult,
    PartialBatch,
    Usage,
    answers_questions,
)
from picscribe.indexer.decode import SOURCE_PATH
from picscribe.indexer.stages import caption_outcomes


class CaptionMemo:
    """A captioner that remembers what the wrapped one said about each image.

    An image is known by its pixels, its task, and the file it came from (a
    sidecar backend answers by path). Failures are remembered too, so an
    image the backend rejected is not sent again; a ``CaptionerStopped`` is
    not, because nothing was sent. The declared capabilities (``usage``,
    ``max_concurrency``, ``ask``, ...) are the wrapped captioner's own.
    """

    def __init__(self, inner: Captioner) -> None:
        self.inner = inner
        self._said: dict[str, CaptionResult | Exception] = {}

    # The wrapped captioner's declared capabilities, forwarded one by one.
    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def tasks(self) -> frozenset[str]:
        return self.inner.tasks

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def can_ask(self) -> bool:
        return self.inner.can_ask

    @property
    def metered(self) -> bool:
        return self.inner.metered

    @property
    def max_concurrency(self) -> int:
        return self.inner.max_concurrency

    @property
    def reads_metadata(self) -> bool:
        return self.inner.reads_metadata

    @property
    def usage(self) -> Usage | None:
        return self.inner.usage

    def close(self) -> None:
        self.inner.close()

    def ask(self, images: Sequence[Image.Image], questions: Sequence[str]) -> list[Answer]:
        """Not remembered: eval asks no questions; this only keeps the wrapped backend's ability."""
        if not answers_questions(self.inner):
            raise TypeError(f"captioner {self.inner.name} cannot answer questions")
        return self.inner.ask(images, questions)

    def caption(self, images: Sequence[Image.Image], task: str = TASK_CAPTION) -> list[CaptionResult]:
        keys = [_image_key(image, task) for image in images]
        # Each image not asked about yet is sent once, even when the batch holds it twice.
        first_index: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key not in self._said:
                first_index.setdefault(key, i)
        # The pipeline's own retry: a failed batch costs no photo a second request.
        answers = caption_outcomes(self.inner, [images[i] for i in first_index.values()], task)
        fresh = dict(zip(first_index, answers, strict=True))
        self._said.update((key, o) for key, o in fresh.items() if not isinstance(o, CaptionerStopped))
        outcomes = [self._said[key] if key in self._said else fresh[key] for key in keys]
        errors = [o for o in outcomes if isinstance(o, Exception)]
        if not errors:
            return [o for o in outcomes if isinstance(o, CaptionResult)]
        if len(outcomes) == 1:
            raise errors[0]
        # Tells the caller which images failed, so it does not ask again for the others.
        raise PartialBatch(outcomes)


def _image_key(image: Image.Image, task: str) -> str:
    digest = hashlib.sha256()
    for part in (task, str(image.info.get(SOURCE_PATH, "")), image.mode, f"{image.width}x{image.height}"):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(image.tobytes())
    return digest.hexdigest()
