"""Colours, indoors/outdoors, settings and positions in the offline captioner.

The rules are unit-tested on constructed evidence; the shipped sample
photos check that real model outputs reach the sentence."""

from __future__ import annotations

from importlib import resources

import pytest
from PIL import Image, ImageDraw
from support.paths import SAMPLES

from picscribe.indexer.captioners.offline import _scene
from picscribe.indexer.captioners.offline._captioner import compose_detailed, object_counts, positions
from picscribe.indexer.captioners.offline._colours import colour_name, dominant_colours
from picscribe.indexer.captioners.offline._detector import Detection

pytestmark = pytest.mark.models

HORSES = "000000078499.jpg"  # five horses on a grassy hill above a lake
DESK = "000000084284.jpg"  # a laptop and a lamp on a desk
LABELS = (
    resources.files("picscribe.indexer.captioners.offline").joinpath("imagenet_labels.txt").read_text().splitlines()
)


def _det(label: str, score: float = 0.8, box: tuple[float, float, float, float] = (0.4, 0.4, 0.6, 0.6)) -> Detection:
    return Detection(label=label, score=score, box=box)


def _uniform_probs() -> list[float]:
    return [1 / len(LABELS)] * len(LABELS)


def _probs(**named: float) -> list[float]:
    probs = [0.0] * len(LABELS)
    for label, p in named.items():
        probs[LABELS.index(label.replace("_", " "))] = p
    return probs


@pytest.mark.parametrize(
    ("rgb", "name"),
    [
        ((250, 250, 250), "white"),
        ((5, 5, 5), "black"),
        ((128, 128, 128), "grey"),
        ((220, 30, 30), "red"),
        ((250, 140, 20), "orange"),
        ((240, 220, 40), "yellow"),
        ((40, 160, 60), "green"),
        ((40, 80, 210), "blue"),
        ((120, 40, 160), "purple"),
        ((250, 160, 190), "pink"),
        ((110, 70, 35), "brown"),
        ((135, 190, 235), "blue"),
    ],
)
def test_colour_names(rgb: tuple[int, int, int], name: str) -> None:
    assert colour_name(rgb) == name


def test_dominant_colours_are_ranked_by_share() -> None:
    image = Image.new("RGB", (100, 100), (40, 80, 210))
    ImageDraw.Draw(image).rectangle((0, 70, 99, 99), fill=(40, 160, 60))  # bottom 30% green
    colours = dominant_colours(image)
    assert [c.name for c in colours] == ["blue", "green"]
    assert colours[0].share == pytest.approx(0.7, abs=0.05)
    # A colour under MIN_SHARE is left out rather than listed as "main".
    speck = Image.new("RGB", (100, 100), (250, 250, 250))
    ImageDraw.Draw(speck).rectangle((0, 0, 9, 9), fill=(220, 30, 30))
    assert [c.name for c in dominant_colours(speck)] == ["white"]


def test_every_scene_class_name_is_an_imagenet_label() -> None:
    outdoor, indoor = _scene.class_groups(LABELS)
    assert len(outdoor) == len(_scene._OUTDOOR_IMAGENET)
    assert len(indoor) == len(_scene._INDOOR_IMAGENET)
    for group in (_scene._KITCHEN_IMAGENET, _scene._BATHROOM_IMAGENET, _scene._BEACH_IMAGENET, _scene._SNOW_IMAGENET):
        assert set(group) <= set(LABELS)


def test_blue_sky_makes_outdoors_and_no_evidence_decides_nothing() -> None:
    sky = Image.new("RGB", (90, 90), (110, 170, 235))
    ImageDraw.Draw(sky).rectangle((0, 45, 89, 89), fill=(90, 90, 90))
    assert _scene.blue_sky_share(sky) > 0.9
    assert _scene.judge(_uniform_probs(), LABELS, [], sky).place == _scene.OUTDOORS
    grey = Image.new("RGB", (90, 90), (120, 120, 120))
    scene = _scene.judge(_uniform_probs(), LABELS, [], grey)
    assert scene.place is None and scene.setting is None


def test_settings_need_specific_evidence() -> None:
    grey = Image.new("RGB", (90, 90), (120, 120, 120))
    kitchen = _scene.judge(_uniform_probs(), LABELS, [_det("oven"), _det("microwave")], grey)
    assert (kitchen.place, kitchen.setting) == (_scene.INDOORS, "in a kitchen")
    # One appliance is not a kitchen; a weak detection is not evidence at all.
    assert _scene.judge(_uniform_probs(), LABELS, [_det("oven")], grey).setting is None
    assert _scene.judge(_uniform_probs(), LABELS, [_det("toilet", 0.1)], grey).setting is None
    assert _scene.judge(_uniform_probs(), LABELS, [_det("toilet")], grey).setting == "in a bathroom"
    street = _scene.judge(_uniform_probs(), LABELS, [_det("bus"), _det("car")], grey)
    assert (street.place, street.setting) == (_scene.OUTDOORS, "on a street")
    apron = _scene.judge(_uniform_probs(), LABELS, [_det("bus"), _det("airplane")], grey)
    assert apron.setting != "on a street"
    assert _scene.judge(_probs(seashore=0.6), LABELS, [], grey).setting == "on a beach"
    # The classifier alone names a room only when it is sure: 0.37 "washbasin" on a desk photo.
    assert _scene.judge(_probs(washbasin=0.37), LABELS, [_det("laptop")], grey).setting is None


def test_positions_are_given_for_single_things_only() -> None:
    dets = [
        _det("dog", box=(0.0, 0.2, 0.2, 0.8)),
        _det("person", box=(0.7, 0.1, 0.95, 0.9)),
        _det("cup", box=(0.45, 0.5, 0.55, 0.6)),
        _det("chair", box=(0.0, 0.0, 0.1, 0.1)),
        _det("chair", box=(0.9, 0.9, 1.0, 1.0)),
    ]
    assert positions(dets, ["dog", "person", "cup", "chair"]) == [
        "a dog on the left",
        "a person on the right",
        "a cup in the middle",
    ]
    counts = {o.label: o.count for o in object_counts(dets)}
    assert counts == {"dog": 1, "person": 1, "cup": 1, "chair": 2}


def test_detailed_text_carries_setting_place_colours_and_positions() -> None:
    from picscribe.indexer.captioners.offline._colours import Colour

    text = compose_detailed(
        ["a dog"],
        [],
        "",
        setting=None,
        place="outdoors",
        placed=["a dog on the left"],
        colours=[Colour("green", 0.6), Colour("blue", 0.3)],
    )
    assert text == ("A photo of a dog. A dog on the left. It was taken outdoors. The main colours are green and blue.")
    with_setting = compose_detailed(["two horses"], [], "", setting="in a field", place="outdoors")
    assert with_setting == "A photo of two horses in a field."  # the setting already says outdoors


@pytest.fixture(scope="module")
def sample_results():
    from picscribe.indexer.captioners.offline import OfflineCaptioner

    images = []
    for name in (HORSES, DESK):
        with Image.open(SAMPLES / name) as image:
            images.append(image.convert("RGB"))
    return dict(zip((HORSES, DESK), OfflineCaptioner().caption(images), strict=True))


def test_horses_photo_is_outdoors_in_a_field(sample_results) -> None:
    result = sample_results[HORSES]
    assert result.extra["place"] == "outdoors"
    assert result.text.endswith("in a field.")
    assert "horses" in result.text
    assert any(o.label == "horse" and o.count >= 2 for o in result.objects)
    assert "outdoors" in {t.label for t in result.tags}
    assert "green" in [c["name"] for c in result.extra["colours"]]


def test_desk_photo_is_indoors_and_names_no_room_it_cannot_see(sample_results) -> None:
    result = sample_results[DESK]
    assert result.extra["place"] == "indoors"
    assert "bathroom" not in result.text and "kitchen" not in result.text
    assert any(o.label == "laptop" for o in result.objects)
    assert "outdoors" not in {t.label for t in result.tags}


def test_faces_stand_in_for_people_the_detector_missed() -> None:
    from picscribe.indexer.captioners.offline._captioner import with_faces

    assert with_faces([("dog", 1)], 0) == [("dog", 1)]
    assert with_faces([("dog", 1)], 2) == [("person", 2), ("dog", 1)]
    assert with_faces([("person", 1), ("dog", 1)], 3) == [("person", 3), ("dog", 1)]
    assert with_faces([("person", 4)], 3) == [("person", 4)]  # backs turned: more people than faces


def test_faces_are_counted_on_a_real_photo() -> None:
    from picscribe.indexer.captioners.offline import OfflineCaptioner
    from picscribe.indexer.captioning import TASK_DETAILED

    with Image.open(SAMPLES / "000000442450.jpg") as image:  # two men with frisbees, both facing the camera
        photo = image.convert("RGB")
    (result,) = OfflineCaptioner().caption([photo], TASK_DETAILED)
    counts = {o.label: o.count for o in result.objects}
    assert counts["face"] == 2 and counts["person"] >= 2
    assert "Two faces are visible." in result.text
    faces = result.extra["faces"]
    assert isinstance(faces, list) and len(faces) == 2
