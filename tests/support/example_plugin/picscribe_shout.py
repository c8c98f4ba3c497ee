"""A third-party captioner, as a plugin package would ship it: it imports only ``picscribe``.

It registers under the ``picscribe.captioners`` entry point (test_public_api
writes the package's metadata at test time) and is then chosen by name,
``captioner="shout"``, like any built-in backend. The README's "Writing a
captioner plugin" shows it as the worked example.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import picscribe

if TYPE_CHECKING:
    from PIL import Image


class ShoutCaptioner(picscribe.BaseCaptioner):
    name: ClassVar[str] = "shout"
    tasks: ClassVar[frozenset[str]] = frozenset({picscribe.TASK_CAPTION})
    #: It answers questions too (``ask`` below); the other capabilities keep the base's defaults.
    can_ask = True
    #: Every instance made, so a test can see which one the Library used and that it was closed.
    made: ClassVar[list[ShoutCaptioner]] = []

    def __init__(
        self, *, device: str = "auto", model: str | None = None, trust_remote_code: bool = False, concurrency: int = 1
    ) -> None:
        self._model = model or "loud"
        self.trust_remote_code = trust_remote_code
        self.concurrency = concurrency
        self.captioned = 0
        #: Images per caption() call, in order: the pipeline's batch size shows here.
        self.batches: list[int] = []
        self.closed = False
        ShoutCaptioner.made.append(self)

    @classmethod
    def from_options(cls, *, device: str, model: str | None, options: picscribe.CaptionerOptions) -> ShoutCaptioner:
        # The settings from config.toml this plugin has a use for; it ignores the rest.
        return cls(
            device=device,
            model=model,
            trust_remote_code=options.trust_remote_code,
            concurrency=options.concurrency or 1,
        )

    @property
    def model_id(self) -> str:
        return f"shout-{self._model}"

    @property
    def max_concurrency(self) -> int:
        return self.concurrency

    def caption(
        self, images: Sequence[Image.Image], task: str = picscribe.TASK_CAPTION
    ) -> list[picscribe.CaptionResult]:
        self.captioned += len(images)
        self.batches.append(len(images))
        return [
            picscribe.CaptionResult(
                text=f"A {'WIDE' if img.width > img.height else 'TALL'} PICTURE SHOUTED AT BY A PLUGIN",
                tags=(picscribe.Tag("shouted", 1.0),),
            )
            for img in images
        ]

    def ask(self, images: Sequence[Image.Image], questions: Sequence[str]) -> list[picscribe.Answer]:
        return [
            picscribe.Answer(f"{q.upper()} {img.width}x{img.height}", source="shout")
            for img, q in zip(images, questions, strict=True)
        ]

    def close(self) -> None:
        self.closed = True
