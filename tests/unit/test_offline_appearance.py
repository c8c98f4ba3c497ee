"""The offline captioner's words for what tells everyday photos apart (issue 18):
the colour of each thing from its own box, counts, and the ground or water
around it. Drawn images and stub findings: no weights, milliseconds."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw

from picscribe.indexer import TASK_CAPTION, TASK_DETAILED, CaptionResult, embedding_text
from picscribe.indexer.captioners.offline import OfflineCaptioner, _appearance, _scene
from picscribe.indexer.captioners.offline._captioner import described_things
from picscribe.indexer.captioners.offline._findings import Detection, Face
from picscribe.indexer.captioners.offline._models import imagenet_labels

LABELS = imagenet_labels()
GRASS = (40, 150, 40)
SNOW = (245, 245, 245)
BLACK = (15, 15, 15)
WHITE = (240, 240, 240)
RED = (200, 20, 20)
BLUE = (30, 60, 200)
GREY = (128, 128, 128)
Box = tuple[float, float, float, float]


def _painted(background: tuple[int, int, int], *boxes: tuple[Box, tuple[int, int, int]]) -> Image.Image:
    """A 200x160 image of ``background`` with each (normalised box, colour) filled in."""
    image = Image.new("RGB", (200, 160), background)
    draw = ImageDraw.Draw(image)
    for (x1, y1, x2, y2), colour in boxes:
        draw.rectangle((x1 * 200, y1 * 160, x2 * 200 - 1, y2 * 160 - 1), fill=colour)
    return image


def _probs(**named: float) -> list[float]:
    """ImageNet probabilities: the named classes get theirs, the rest share what is left."""
    probs = [0.0] * len(LABELS)
    for label, p in named.items():
        probs[LABELS.index(label.replace("_", " "))] = p
    rest = (1.0 - sum(named.values())) / (len(LABELS) - len(named))
    return [p if p else rest for p in probs]


class Findings:
    """Stub models: fixed findings for every image."""

    version = "stub-1"

    def __init__(self, detections: Sequence[Detection] = (), probs: Sequence[float] | None = None) -> None:
        self.detections = list(detections)
        self.probs = list(probs) if probs is not None else _probs()

    @property
    def labels(self) -> Sequence[str]:
        return LABELS

    def unavailable(self) -> str | None:
        return None

    def classify(self, images: Sequence[Image.Image]) -> list[list[float]]:
        return [self.probs for _ in images]

    def detect(self, images: Sequence[Image.Image], min_score: float) -> list[list[Detection]]:
        return [[d for d in self.detections if d.score >= min_score] for _ in images]

    def faces(self, image: Image.Image) -> list[Face]:
        return []

    def nsfw(self, images: Sequence[Image.Image]) -> list[float]:
        return [0.0 for _ in images]

    def read_text(self, image: Image.Image) -> str:
        return ""


def _result(image: Image.Image, models: Findings, task: str = TASK_CAPTION) -> CaptionResult:
    (result,) = OfflineCaptioner(models=models).caption([image], task)
    return result


DOG_BOX: Box = (0.3, 0.2, 0.7, 0.55)


def test_a_things_colour_comes_from_its_box_not_the_frame() -> None:
    # A black dog filling a fifth of a grey frame: the frame is grey, the dog is black.
    image = _painted(GREY, (DOG_BOX, BLACK))
    assert _appearance.thing_colour(image, DOG_BOX) == "black"
    assert _appearance.thing_colour(image, (0.0, 0.7, 0.3, 1.0)) == "grey"


def test_no_colour_is_named_when_none_dominates() -> None:
    stripes = [((x / 10, 0.0, (x + 1) / 10, 1.0), (RED, BLUE, GRASS, BLACK, WHITE)[x % 5]) for x in range(10)]
    assert _appearance.thing_colour(_painted(GREY, *stripes), (0.0, 0.0, 1.0, 1.0)) is None


def test_too_small_a_box_has_no_colour() -> None:
    assert _appearance.thing_colour(_painted(BLACK), (0.5, 0.5, 0.501, 0.501)) is None


def test_things_are_counted_and_coloured_each() -> None:
    # Biggest first: the black dog's box is the larger.
    left, right = (0.05, 0.3, 0.45, 0.7), (0.6, 0.3, 0.9, 0.7)
    image = _painted(GREY, (left, BLACK), (right, WHITE))
    dogs = [Detection("dog", 0.8, left), Detection("dog", 0.7, right)]
    assert described_things(image, dogs, [("dog", 2)], 6) == ["a black dog and a white dog"]
    same = _painted(GREY, (left, BLACK), (right, BLACK))
    assert described_things(same, dogs, [("dog", 2)], 6) == ["two black dogs"]


def test_people_are_counted_not_coloured() -> None:
    # Measured on flickr-dev, a person's colour was no better than chance: never said.
    a, b = (0.1, 0.1, 0.3, 0.9), (0.6, 0.1, 0.8, 0.9)
    image = _painted(GREY, (a, RED), (b, RED))
    people = [Detection("person", 0.9, a), Detection("person", 0.9, b)]
    assert described_things(image, people, [("person", 2)], 6) == ["two people"]


def test_grey_is_not_named() -> None:
    image = _painted(BLACK, (DOG_BOX, GREY))
    assert _appearance.thing_colour(image, DOG_BOX) == "grey"
    assert described_things(image, [Detection("dog", 0.8, DOG_BOX)], [("dog", 1)], 6) == ["a dog"]


def test_a_count_the_boxes_cannot_back_is_not_coloured() -> None:
    # Four dogs counted (say, in a longer list) but two boxes: no colour guessed for the other two.
    a, b = (0.1, 0.3, 0.3, 0.7), (0.6, 0.3, 0.8, 0.7)
    image = _painted(GREY, (a, BLACK), (b, BLACK))
    dogs = [Detection("dog", 0.9, a), Detection("dog", 0.9, b)]
    assert described_things(image, dogs, [("dog", 4)], 6) == ["four dogs"]


def test_grass_or_snow_underfoot() -> None:
    lower = (0.0, 0.6, 1.0, 1.0)
    assert _appearance.ground(_painted(GREY, (lower, GRASS))) == "on the grass"
    assert _appearance.ground(_painted(GREY, (lower, SNOW))) == "in the snow"
    assert _appearance.ground(_painted(GREY)) is None
    # Green above, grey below: a hedge is not a lawn.
    assert _appearance.ground(_painted(GREY, ((0.0, 0.0, 1.0, 0.5), GRASS))) is None


def test_water_from_what_only_occurs_there() -> None:
    assert _scene.by_water(_probs(swimming_trunks=0.5), LABELS) == "by the water"
    assert _scene.by_water(_probs(canoe=0.2, paddle=0.2), LABELS) == "by the water"
    assert _scene.by_water(_probs(golden_retriever=0.9), LABELS) is None


def test_the_caption_stays_short_and_the_description_tells_the_photo_apart() -> None:
    image = _painted(GREY, ((0.0, 0.6, 1.0, 1.0), GRASS), (DOG_BOX, BLACK))
    result = _result(image, Findings([Detection("dog", 0.8, DOG_BOX)]))
    assert result.text == "A photo of a dog."
    assert result.detailed.startswith("A photo of a black dog on the grass."), result.detailed
    # What is embedded is the description and its tags: they are what search tells photos apart by.
    assert "dog" in [tag.label for tag in result.tags]
    assert embedding_text(result) == f"{result.detailed} Tags: {', '.join(tag.label for tag in result.tags)}."
    # Asked for the detailed task, the description is the text, and nothing rides along.
    detailed = _result(image, Findings([Detection("dog", 0.8, DOG_BOX)]), TASK_DETAILED)
    assert (detailed.text, detailed.detailed) == (result.detailed, "")


def test_indoors_a_white_floor_is_not_snow() -> None:
    image = _painted(GREY, ((0.0, 0.6, 1.0, 1.0), SNOW), (DOG_BOX, BLACK))
    indoors = [Detection("dog", 0.8, DOG_BOX), Detection("couch", 0.8, (0.0, 0.3, 0.3, 0.6))]
    indoors += [Detection("tv", 0.8, (0.7, 0.1, 0.9, 0.3))]
    result = _result(image, Findings(indoors))
    assert "snow" not in result.detailed, result.detailed
    assert "black dog" in result.detailed


def test_embedding_text_adds_ocr_unless_the_description_quotes_it() -> None:
    plain = CaptionResult(text="A photo of a sign.", ocr_text="STOP")
    assert embedding_text(plain) == 'A photo of a sign. Text: "STOP"'
    quoted = CaptionResult(
        text="A photo of a sign.", ocr_text="STOP", detailed='A photo of a sign. Visible text: "STOP".'
    )
    assert embedding_text(quoted) == quoted.detailed
