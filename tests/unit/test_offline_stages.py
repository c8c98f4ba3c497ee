"""The offline models run several at once on a multi-core machine (``_stages``), with the
same findings as one after another; OCR engines are never shared by two threads. Stub
models and stub OCR engines: no weights, milliseconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest
from PIL import Image

from picscribe.indexer.captioners.offline import OfflineCaptioner, _ocr, _stages
from picscribe.indexer.captioners.offline._findings import Detection, Face
from picscribe.indexer.captioners.offline._models import imagenet_labels

LABELS = imagenet_labels()


def _image(width: int) -> Image.Image:
    """Images told apart by their width, so each stub finding names its image."""
    return Image.new("RGB", (width, 40), (90, 90, 90))


class PerImageModels:
    """Findings that name the image they were made from; records which thread ran what."""

    version = "stub-1"

    def __init__(self, meet: threading.Barrier | None = None) -> None:
        self.meet = meet  # detect and read_text wait here for each other, when given
        self.threads: set[int] = set()

    def _ran(self) -> None:
        self.threads.add(threading.get_ident())

    @property
    def labels(self) -> Sequence[str]:
        return LABELS

    def unavailable(self) -> str | None:
        return None

    def classify(self, images: Sequence[Image.Image]) -> list[list[float]]:
        self._ran()
        out = []
        for image in images:
            probs = [0.0] * len(LABELS)
            probs[image.width % len(LABELS)] = 1.0
            out.append(probs)
        return out

    def detect(self, images: Sequence[Image.Image], min_score: float) -> list[list[Detection]]:
        self._ran()
        if self.meet is not None:
            self.meet.wait()
        return [[Detection("dog", 0.5 + image.width / 10_000, (0.1, 0.1, 0.5, 0.5))] for image in images]

    def faces(self, image: Image.Image) -> list[Face]:
        self._ran()
        return [Face((0.2, 0.2, 0.4, 0.4), 0.9)] * (image.width % 3)

    def nsfw(self, images: Sequence[Image.Image]) -> list[float]:
        self._ran()
        return [image.width / 10_000 for image in images]

    def read_text(self, image: Image.Image) -> str:
        self._ran()
        if self.meet is not None:
            self.meet.wait()
        return f"text of {image.width}"


IMAGES = [_image(w) for w in (101, 202, 303, 404, 505)]


def test_findings_at_once_are_those_in_turn_and_in_the_batchs_order() -> None:
    in_turn = _stages.find(PerImageModels(), IMAGES, 0.3, threads=1)
    at_once = _stages.find(PerImageModels(), IMAGES, 0.3, threads=2)
    assert at_once == in_turn
    assert at_once.text == [f"text of {image.width}" for image in IMAGES]
    assert [d[0].score for d in at_once.detections] == [0.5 + image.width / 10_000 for image in IMAGES]


def test_two_threads_run_two_models_at_the_same_time() -> None:
    """Each detect waits for a read_text and the other way round: only two threads at once get through."""
    models = PerImageModels(meet=threading.Barrier(2, timeout=10))
    found = _stages.find(models, IMAGES[:1], 0.3, threads=2)
    assert found.text == ["text of 101"]
    assert len(models.threads) == 2 and threading.get_ident() not in models.threads


def test_one_thread_runs_every_model_in_the_callers_thread() -> None:
    models = PerImageModels()
    _stages.find(models, IMAGES, 0.3, threads=1)
    assert models.threads == {threading.get_ident()}


def test_the_captioner_writes_the_same_results_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    results = {}
    for threads in ("1", "3"):
        monkeypatch.setenv(_stages.THREADS_ENV, threads)
        captioner = OfflineCaptioner(models=PerImageModels())
        assert captioner.threads == int(threads)
        results[threads] = captioner.caption(IMAGES)
    assert results["1"] == results["3"]
    assert [r.ocr_text for r in results["3"]] == [f"text of {image.width}" for image in IMAGES]


@pytest.mark.parametrize("raw", ["0", "-1", "two", "1.5"])
def test_a_bad_thread_setting_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(_stages.THREADS_ENV, raw)
    with pytest.raises(ValueError, match=_stages.THREADS_ENV):
        _stages.stage_threads()


def test_without_a_setting_one_thread_per_core_up_to_four(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_stages.THREADS_ENV, raising=False)
    monkeypatch.setattr(_stages.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert _stages.stage_threads() == _stages.MAX_DEFAULT_THREADS
    monkeypatch.setattr(_stages.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert _stages.stage_threads() == 2
    monkeypatch.setenv(_stages.THREADS_ENV, "1")
    assert _stages.stage_threads() == 1


class StubEngine:
    """Stands in for a RapidOCR engine; fails the test if two threads use it at once."""

    def __init__(self, made: list[StubEngine]) -> None:
        self.busy = threading.Lock()
        made.append(self)

    def __call__(self, bgr: np.ndarray) -> tuple[list[list[object]], None]:
        assert self.busy.acquire(blocking=False), "an OCR engine was used by two threads at once"
        try:
            time.sleep(0.01)
            box = [[0, 0], [10, 0], [10, 5], [0, 5]]
            return [[box, f"w{bgr.shape[1]}", 0.9]], None
        finally:
            self.busy.release()


@pytest.mark.parametrize("engines", [1, 2, 3])
def test_ocr_engines_are_made_as_needed_up_to_the_limit_and_never_shared(
    monkeypatch: pytest.MonkeyPatch, engines: int
) -> None:
    made: list[StubEngine] = []
    monkeypatch.setattr(_ocr.Reader, "_make_engine", lambda self: StubEngine(made))
    reader = _ocr.Reader(engines=engines)
    texts: dict[int, str] = {}

    def read(width: int) -> None:
        texts[width] = reader.read_text(_image(width))

    workers = [threading.Thread(target=read, args=(w,)) for w in range(30, 54)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert texts == {w: f"w{w}" for w in range(30, 54)}
    assert 1 <= len(made) <= engines
