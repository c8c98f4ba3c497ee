"""The offline captioner's sentences, from stub findings: no weights, no torch, milliseconds.

``OfflineCaptioner(models=...)`` takes any ``OfflineModels``; these tests
hand it made-up detections, labels, faces, OCR text and NSFW scores and check
what it writes from them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import pytest
from PIL import Image

from picscribe.indexer import TASK_ALT_TEXT, TASK_CAPTION, TASK_DETAILED, TASK_OCR, CaptionerUnavailable
from picscribe.indexer.captioners.offline import OfflineCaptioner
from picscribe.indexer.captioners.offline._findings import Detection, Face
from picscribe.indexer.captioners.offline._models import imagenet_labels

LABELS = imagenet_labels()
GREY = Image.new("RGB", (64, 48), (128, 128, 128))


def _probs(**named: float) -> list[float]:
    """ImageNet probabilities: the named classes get theirs, the rest share what is left."""
    probs = [0.0] * len(LABELS)
    for label, p in named.items():
        probs[LABELS.index(label.replace("_", " "))] = p
    rest = (1.0 - sum(named.values())) / (len(LABELS) - len(named))
    return [p if p else rest for p in probs]


def _dog(x: float, score: float = 0.8) -> Detection:
    return Detection("dog", score, (x, 0.3, x + 0.2, 0.7))


class StubModels:
    """Findings fixed in advance; counts what the captioner asked for."""

    version = "stub-1"

    def __init__(
        self,
        probs: Sequence[float] | None = None,
        detections: Sequence[Detection] = (),
        faces: Sequence[Face] = (),
        text: str = "",
        nsfw: float = 0.01,
        missing: str | None = None,
    ) -> None:
        self.probs = list(probs) if probs is not None else _probs()
        self.detections = list(detections)
        self.found_faces = list(faces)
        self.text = text
        self.nsfw_score = nsfw
        self.missing = missing
        self.min_scores: list[float] = []

    @property
    def labels(self) -> Sequence[str]:
        return LABELS

    def unavailable(self) -> str | None:
        return self.missing

    def classify(self, images: Sequence[Image.Image]) -> list[list[float]]:
        return [self.probs for _ in images]

    def detect(self, images: Sequence[Image.Image], min_score: float) -> list[list[Detection]]:
        self.min_scores.append(min_score)
        return [[d for d in self.detections if d.score >= min_score] for _ in images]

    def faces(self, image: Image.Image) -> list[Face]:
        return self.found_faces

    def nsfw(self, images: Sequence[Image.Image]) -> list[float]:
        return [self.nsfw_score for _ in images]

    def read_text(self, image: Image.Image) -> str:
        return self.text


def _caption(models: StubModels, task: str = TASK_CAPTION) -> str:
    (result,) = OfflineCaptioner(models=models).caption([GREY], task)
    return result.text


def test_two_dogs_on_a_beach() -> None:
    models = StubModels(_probs(seashore=0.6), [_dog(0.05), _dog(0.6)])
    (result,) = OfflineCaptioner(models=models).caption([GREY])
    # The detector's count comes first, then the classifier's word; the scene gives the setting.
    assert result.text.startswith("A photo of two dogs and "), result.text
    assert result.text.endswith(" on a beach."), result.text
    assert [(o.label, o.count) for o in result.objects] == [("dog", 2)]
    assert {"dog", "seashore"} <= {t.label for t in result.tags}
    assert result.extra["setting"] == "on a beach" and result.extra["place"] == "outdoors"


def test_weak_detections_are_not_named() -> None:
    models = StubModels(detections=[_dog(0.1, score=0.2)])
    assert _caption(models) == "A photo."
    assert models.min_scores == [0.3]  # the calibrated threshold reaches the detector


def test_ocr_text_is_stored_apart_from_the_caption_and_quoted_in_the_description() -> None:
    car = [Detection("car", 0.9, (0.1, 0.5, 0.6, 0.9))]
    models = StubModels(_probs(street_sign=0.7), detections=car, text="STOP\nNO PARKING")
    (result,) = OfflineCaptioner(models=models).caption([GREY])
    assert result.ocr_text == "STOP\nNO PARKING"
    # Beside something the detector saw, the text stays out of the short caption...
    assert "STOP" not in result.text and "PARKING" not in result.text
    # ...and when nothing else is there, the text is what the photo shows.
    alone = StubModels(_probs(street_sign=0.7), text="STOP\nNO PARKING")
    (sign,) = OfflineCaptioner(models=alone).caption([GREY])
    assert sign.text == 'A sign that says "STOP NO PARKING".'
    assert 'Visible text: "STOP NO PARKING"' in _caption(models, TASK_DETAILED)
    assert _caption(models, TASK_ALT_TEXT).endswith('with the text "STOP NO PARKING"')
    (ocr,) = OfflineCaptioner(models=models).caption([GREY], TASK_OCR)
    assert ocr.text == ocr.ocr_text == "STOP\nNO PARKING"


def test_faces_stand_in_for_people_the_detector_missed() -> None:
    faces = [Face((0.1 * i, 0.1, 0.1 * i + 0.05, 0.2), 0.99) for i in range(3)]
    models = StubModels(detections=[Detection("person", 0.9, (0.0, 0.0, 0.5, 1.0))], faces=faces)
    (result,) = OfflineCaptioner(models=models).caption([GREY])
    assert result.text.startswith("A photo of three people"), result.text
    assert ("person", 3) in [(o.label, o.count) for o in result.objects]
    assert ("face", 3) in [(o.label, o.count) for o in result.objects]
    assert "Three faces are visible." in _caption(models, TASK_DETAILED)


def test_a_single_thing_gets_its_place_in_the_description() -> None:
    models = StubModels(detections=[Detection("cat", 0.9, (0.0, 0.2, 0.2, 0.6))])
    assert "A cat on the left." in _caption(models, TASK_DETAILED)


def test_nsfw_is_a_tag_only_above_its_threshold() -> None:
    (flagged,) = OfflineCaptioner(models=StubModels(nsfw=0.5)).caption([GREY])
    (clean,) = OfflineCaptioner(models=StubModels(nsfw=0.05)).caption([GREY])
    assert ("nsfw", 0.5) in [(t.label, t.score) for t in flagged.tags]
    assert "nsfw" not in [t.label for t in clean.tags]
    assert "nsfw" not in flagged.text


def test_no_torch_is_needed_to_compose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # importing torch would now fail
    assert _caption(StubModels(detections=[_dog(0.4)])) == "A photo of a dog."


def test_answers_come_from_the_same_findings() -> None:
    captioner = OfflineCaptioner(models=StubModels(detections=[_dog(0.05), _dog(0.6)], text="OPEN"))
    answers = captioner.ask([GREY, GREY, GREY], ["How many dogs are there?", "What does the sign say?", "Why?"])
    assert [a.text for a in answers[:2]] == ["The detector counts 2 dogs.", 'The visible text reads: "OPEN"']
    assert [(a.answered, a.source) for a in answers] == [(True, "detector"), (True, "ocr"), (False, "none")]


def test_model_id_names_the_models_and_missing_models_stop_captioning() -> None:
    assert OfflineCaptioner(models=StubModels()).model_id == "v6:stub-1"
    with pytest.raises(CaptionerUnavailable, match="no weights here"):
        OfflineCaptioner(models=StubModels(missing="no weights here")).caption([GREY])


def test_text_caption_names_a_sign_only_on_the_classifiers_word() -> None:
    from picscribe.indexer.captioners.offline._captioner import text_caption

    assert text_caption("Bäckerei  Müller", ["web site", "nail"]) == 'A sign that says "Bäckerei Müller".'
    assert text_caption("EXIT", ["binder", "envelope", "book jacket", "street sign"]) == 'Text that reads "EXIT".'
    assert text_caption("- .", ["street sign"]) is None  # no letters or digits: not text worth a caption
