"""CaptionMemo: what eval's modes share so the captioner is asked once per image."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from PIL import Image

from picscribe.evaluation import CaptionMemo
from picscribe.indexer import (
    TASK_CAPTION,
    TASK_OCR,
    BaseCaptioner,
    Captioner,
    CaptionerStopped,
    CaptionResult,
    PartialBatch,
    Usage,
    answers_questions,
)


class CountingCaptioner(BaseCaptioner):
    """Names each image by its colour; refuses blue ones; stops after ``stop_after`` images."""

    name = "counting"
    tasks = frozenset({TASK_CAPTION, TASK_OCR})
    model_id = "counting-v1"
    metered = True
    max_concurrency = 3

    def __init__(self, stop_after: int = 1000) -> None:
        self.asked: list[tuple[str, str]] = []
        self.stop_after = stop_after
        self.closed = False

    @property
    def usage(self) -> Usage:
        return Usage(requests=len(self.asked))

    def close(self) -> None:
        self.closed = True

    def caption(self, images: Sequence[Image.Image], task: str = TASK_CAPTION) -> list[CaptionResult]:
        results: list[CaptionResult | Exception] = []
        for image in images:
            if len(self.asked) >= self.stop_after:
                results.append(CaptionerStopped("budget spent"))
                continue
            colour = _colour(image)
            self.asked.append((colour, task))
            results.append(ValueError("rejected") if colour == "blue" else CaptionResult(f"{task}: {colour}"))
        if any(isinstance(r, Exception) for r in results):
            raise PartialBatch(results)
        return [r for r in results if isinstance(r, CaptionResult)]  # all of them: no exception was raised


def _colour(image: Image.Image) -> str:
    pixel = image.getpixel((0, 0))
    assert isinstance(pixel, tuple)
    names: dict[tuple[int, ...], str] = {(255, 0, 0): "red", (0, 255, 0): "green", (0, 0, 255): "blue"}
    return names[pixel]


def _image(colour: str) -> Image.Image:
    return Image.new("RGB", (8, 8), {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}[colour])


def test_each_image_and_task_is_asked_once_and_failures_are_remembered() -> None:
    inner = CountingCaptioner()
    memo = CaptionMemo(inner)
    assert (memo.name, memo.model_id, memo.tasks) == ("counting", "counting-v1", inner.tasks)
    # The declared capabilities are the wrapped captioner's, forwarded one by one.
    assert (memo.max_concurrency, memo.metered, memo.can_ask) == (3, True, False)
    assert isinstance(memo, Captioner) and not answers_questions(memo)

    with pytest.raises(PartialBatch) as first:
        memo.caption([_image("red"), _image("blue"), _image("red")])
    texts = [r.text if isinstance(r, CaptionResult) else type(r).__name__ for r in first.value.results]
    assert texts == ["caption: red", "ValueError", "caption: red"]
    assert inner.asked == [("red", "caption"), ("blue", "caption")]  # the twin in the batch was not sent

    with pytest.raises(PartialBatch):
        memo.caption([_image("blue"), _image("green"), _image("red")])
    with pytest.raises(ValueError, match="rejected"):
        memo.caption([_image("blue")])  # a rejected image alone fails as itself, unasked
    assert [r.text for r in memo.caption([_image("red")], TASK_OCR)] == ["ocr: red"]
    assert inner.asked == [("red", "caption"), ("blue", "caption"), ("green", "caption"), ("red", "ocr")]
    assert memo.usage == Usage(requests=4)
    memo.close()
    assert inner.closed


def test_an_image_not_sent_because_the_captioner_stopped_is_asked_for_later() -> None:
    inner = CountingCaptioner(stop_after=1)
    memo = CaptionMemo(inner)
    with pytest.raises(PartialBatch) as stopped:
        memo.caption([_image("red"), _image("green")])
    assert isinstance(stopped.value.results[1], CaptionerStopped)
    inner.stop_after = 10  # the next run has budget again
    assert [r.text for r in memo.caption([_image("red"), _image("green")])] == ["caption: red", "caption: green"]
    assert inner.asked == [("red", "caption"), ("green", "caption")]
