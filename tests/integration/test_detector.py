"""The bundled COCO-80 detector (MobileNetV3 CenterNet, converted from TFJS)."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from PIL import Image
from support.paths import REPO

from picscribe.indexer.captioners.offline import _detector

pytestmark = pytest.mark.models

SAMPLES = REPO / "data" / "samples" / "images"


def _open(name: str) -> Image.Image:
    with Image.open(SAMPLES / name) as im:
        return im.convert("RGB")


@functools.cache
def _graph() -> _detector._Graph:
    """The network, loaded once for this module (the captioner gets it from PackagedModels)."""
    return _detector.load()


@pytest.fixture(scope="module")
def sample_detections() -> dict[str, list[_detector.Detection]]:
    names = ["000000252639.jpg", "000000121647.jpg"]
    return dict(zip(names, _detector.detect(_graph(), [_open(n) for n in names]), strict=True))


def test_weights_file_is_small_and_self_describing() -> None:
    assert _detector.WEIGHTS.stat().st_size <= 10 * 1024 * 1024
    with np.load(_detector.WEIGHTS, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
    assert "human-models@3.0.4" in meta["source"]
    assert len(_detector.COCO_LABELS) == 80 == len(set(_detector.COCO_LABELS))


def test_detects_a_bus_and_a_pizza(sample_detections: dict[str, list[_detector.Detection]]) -> None:
    street = {d.label for d in sample_detections["000000252639.jpg"]}
    table = {d.label for d in sample_detections["000000121647.jpg"]}
    assert {"bus", "car"} <= street
    assert "pizza" in table


def test_detections_are_well_formed(sample_detections: dict[str, list[_detector.Detection]]) -> None:
    for dets in sample_detections.values():
        assert dets
        assert [d.score for d in dets] == sorted((d.score for d in dets), reverse=True)
        for d in dets:
            assert d.label in _detector.COCO_LABELS
            assert 0.3 <= d.score <= 1.0
            x1, y1, x2, y2 = d.box
            assert 0.0 <= x1 <= x2 <= 1.0
            assert 0.0 <= y1 <= y2 <= 1.0


def test_bus_box_is_in_original_image_coordinates(
    sample_detections: dict[str, list[_detector.Detection]],
) -> None:
    # The big bus sits left of centre, in the middle band of the (letterboxed) photo.
    bus = max((d for d in sample_detections["000000252639.jpg"] if d.label == "bus"), key=lambda d: d.score)
    x1, y1, x2, y2 = bus.box
    assert 0.1 < x1 < 0.35 and 0.45 < x2 < 0.7
    assert 0.2 < y1 < 0.45 and 0.55 < y2 < 0.8


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (128, 128, 128)])
def test_a_blank_image_has_no_detections(colour: tuple[int, int, int]) -> None:
    assert _detector.detect(_graph(), [Image.new("RGB", (640, 480), colour)], min_score=0.3) == [[]]


def test_empty_input_and_odd_modes() -> None:
    assert _detector.detect(_graph(), []) == []
    out = _detector.detect(_graph(), [Image.new("L", (64, 64)), Image.new("RGBA", (10, 300))])
    assert out == [[], []]
