"""A deterministic captioner for tests and benchmarks, shipped with picscribe.

Its text depends only on the pixels (mean colour, brightness, shape), so
identical files get identical captions and a test can predict them. It is
selectable as ``--captioner fake`` and costs microseconds per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from PIL import Image, ImageStat

from ..captioning import TASK_ALT_TEXT, TASK_CAPTION, TASK_DETAILED, BaseCaptioner, CaptionResult, Tag

_COLOURS = {
    "red": (200, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 70, 200),
    "yellow": (230, 210, 40),
    "orange": (240, 140, 30),
    "purple": (130, 50, 160),
    "white": (240, 240, 240),
    "black": (15, 15, 15),
    "grey": (128, 128, 128),
    "brown": (120, 80, 40),
}


def colour_name(rgb: Sequence[float]) -> str:
    """The nearest of a few named colours."""
    return min(_COLOURS, key=lambda n: sum((a - b) ** 2 for a, b in zip(_COLOURS[n], rgb, strict=True)))


class FakeCaptioner(BaseCaptioner):
    name: ClassVar[str] = "fake"
    tasks: ClassVar[frozenset[str]] = frozenset({TASK_CAPTION, TASK_DETAILED, TASK_ALT_TEXT})

    def __init__(self, *, device: str = "auto", model: str | None = None) -> None:
        self._model = model or "v1"
        #: Images captioned by this instance; tests read it.
        self.calls = 0

    @property
    def model_id(self) -> str:
        return f"fake-{self._model}"

    def caption(self, images: Sequence[Image.Image], task: str = TASK_CAPTION) -> list[CaptionResult]:
        if task not in self.tasks:
            raise ValueError(f"the fake captioner does tasks {sorted(self.tasks)}, not {task!r}")
        self.calls += len(images)
        return [self._one(img, task) for img in images]

    @staticmethod
    def _one(img: Image.Image, task: str) -> CaptionResult:
        mean = ImageStat.Stat(img.convert("RGB")).mean
        colour = colour_name(mean)
        w, h = img.size
        shape = "square" if abs(w - h) <= max(w, h) * 0.05 else ("landscape" if w > h else "portrait")
        light = "bright" if sum(mean) / 3 > 160 else ("dark" if sum(mean) / 3 < 70 else "evenly lit")
        article = "An" if light[0] in "aeiou" else "A"
        text = f"{article} {light} {shape} picture that is mostly {colour}."
        if task == TASK_DETAILED:
            text += f" Its mean colour is RGB({mean[0]:.0f}, {mean[1]:.0f}, {mean[2]:.0f})."
        elif task == TASK_ALT_TEXT:
            text = f"Mostly {colour} {shape} picture"
        return CaptionResult(text=text, tags=(Tag(colour, 1.0), Tag(shape, 1.0)))
