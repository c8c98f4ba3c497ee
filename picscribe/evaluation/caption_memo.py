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

from picscribe.indexer import TASK_CAPTION, Captioner, CaptionerStopped, CaptionResult, PartialBatch
from picscribe.indexer.decode import SOURCE_PATH
from picscribe.indexer.stages import caption_outcomes


class CaptionMemo:
    """A captioner that remembers what the wrapped one said about each image.

    An image is known by its pixels, its task, and the file it came from (a
    sidecar backend answers by path). Failures are remembered too, so an
    image the backend rejected is not sent again; a ``CaptionerStopped`` is
    not, because nothing was sent. Everything else (``usage``,
    ``concurrency``, ``ask``) is the wrapped captioner's own.
    """

    def __init__(self, inner: Captioner) -> None:
        self.inner = inner
        self._said: dict[str, CaptionResult | Exception] = {}

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.inner.name

    @property
    def tasks(self) -> frozenset[str]:  # type: ignore[override]
        return self.inner.tasks

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def __getattr__(self, attribute: str) -> object:
        if attribute == "inner":  # not set yet (a copy being made): no wrapped captioner to ask
            raise AttributeError(attribute)
        return getattr(self.inner, attribute)

    def caption(self, images: Sequence[Image.Image], task: str = TASK_CAPTION) -> list[CaptionResult]:
        keys = [_image_key(image, task) for image in images]
        # Each image not asked about yet is sent once, even when the batch holds it twice.
        first_index: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key not in self._said:
                first_index.setdefault(key, i)
        # The pipeline's own retry: a failed batch costs no photo a second request.
        answers = caption_outcomes(self.inner, [images[i] for i in first_index.values()], task)
        fresh = dict(zip(first_index, answers))
        self._said.update((key, o) for key, o in fresh.items() if not isinstance(o, CaptionerStopped))
        outcomes = [self._said[key] if key in self._said else fresh[key] for key in keys]
        errors = [o for o in outcomes if isinstance(o, Exception)]
        if not errors:
            return outcomes  # type: ignore[return-value]
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
