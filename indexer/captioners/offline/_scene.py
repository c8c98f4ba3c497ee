"""Indoors or outdoors, and a named setting ("in a kitchen", "on a street").

No packaged model here was trained on scene categories (Places365 is not
in any package), so the call is made from evidence the other models
already produce, each source voting with its confidence:

- ImageNet classes that only occur in one kind of place (seashore, alp,
  library, shower curtain), summed over the classifier's full distribution;
- COCO detections that mostly occur in one kind of place (oven, toilet,
  couch versus bus, traffic light, giraffe);
- blue sky: the share of sky-blue pixels in the top third of the frame.

A setting is named only when the evidence is specific (a kitchen needs two
kinds of kitchen appliance, or one the classifier is sure of); otherwise
the sentence names no place rather than guess one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ._findings import Detection

INDOORS = "indoors"
OUTDOORS = "outdoors"

#: How far one side's evidence must lead the other's for a call.
MIN_MARGIN = 0.35
#: Detections count as evidence at this score or above.
MIN_EVIDENCE_SCORE = 0.3

# ImageNet labels as in imagenet_labels.txt (a test checks each one exists).
_OUTDOOR_IMAGENET = frozenset(
    {
        "alp",
        "cliff",
        "coral reef",
        "geyser",
        "lakeside",
        "promontory",
        "sandbar",
        "seashore",
        "valley",
        "volcano",
        "breakwater",
        "dam",
        "pier",
        "suspension bridge",
        "steel arch bridge",
        "viaduct",
        "boathouse",
        "park bench",
        "street sign",
        "traffic light",
        "barn",
        "water tower",
        "fountain",
        "worm fence",
        "picket fence",
        "chainlink fence",
        "stone wall",
        "thatch",
        "church",
        "palace",
        "monastery",
        "castle",
        "mosque",
        "mountain tent",
        "snowmobile",
        "dogsled",
        "ski",
        "lawn mower",
        "go-kart",
        "golfcart",
        "parking meter",
        "streetcar",
        "trolleybus",
        "school bus",
        "passenger car",
        "freight car",
        "electric locomotive",
        "steam locomotive",
        "paddlewheel",
        "canoe",
        "speedboat",
        "lifeboat",
        "catamaran",
        "trimaran",
        "schooner",
        "yawl",
        "container ship",
        "liner",
        "airliner",
        "airship",
        "balloon",
        "parachute",
        "space shuttle",
        "wing",
        "garbage truck",
        "tow truck",
        "fire engine",
        "moving van",
        "police van",
        "cab",
        "limousine",
        "jeep",
        "minivan",
        "convertible",
        "sports car",
        "racer",
        "pickup",
        "tractor",
        "harvester",
        "thresher",
        "plow",
        "trailer truck",
        "mountain bike",
        "unicycle",
        "tricycle",
        "scuba diver",
        "totem pole",
        "triumphal arch",
        "obelisk",
        "megalith",
        "cliff dwelling",
        "yurt",
        "stupa",
        "hay",
        "apiary",
        "birdhouse",
        "mailbox",
        "maypole",
        "flagpole",
    }
)
_INDOOR_IMAGENET = frozenset(
    {
        "restaurant",
        "library",
        "bookshop",
        "grocery store",
        "barbershop",
        "shoe shop",
        "toyshop",
        "tobacco shop",
        "confectionery",
        "butcher shop",
        "home theater",
        "studio couch",
        "four-poster",
        "quilt",
        "bathtub",
        "toilet seat",
        "washbasin",
        "medicine chest",
        "refrigerator",
        "microwave",
        "dishwasher",
        "stove",
        "wardrobe",
        "desk",
        "desktop computer",
        "monitor",
        "window shade",
        "shower curtain",
        "dining table",
        "bannister",
        "sliding door",
        "entertainment center",
        "bookcase",
        "china cabinet",
        "chiffonier",
        "crib",
        "cradle",
        "pillow",
        "rocking chair",
        "barber chair",
        "throne",
        "wall clock",
        "television",
        "screen",
        "paper towel",
        "plate rack",
        "dishrag",
        "espresso maker",
        "toaster",
        "rotisserie",
        "Dutch oven",
        "wok",
        "frying pan",
        "washer",
        "vacuum",
        "iron",
        "table lamp",
        "lampshade",
        "computer keyboard",
        "mouse",
        "printer",
        "photocopier",
        "file",
        "sewing machine",
        "radiator",
        "space heater",
        "cinema",
        "planetarium",
        "prison",
    }
)

_OUTDOOR_COCO = frozenset(
    {
        "car",
        "bus",
        "truck",
        "train",
        "airplane",
        "boat",
        "traffic light",
        "fire hydrant",
        "stop sign",
        "parking meter",
        "horse",
        "sheep",
        "cow",
        "elephant",
        "bear",
        "zebra",
        "giraffe",
        "kite",
        "skis",
        "snowboard",
        "surfboard",
        "motorcycle",
    }
)
_INDOOR_COCO = frozenset(
    {
        "couch",
        "bed",
        "toilet",
        "tv",
        "laptop",
        "mouse",
        "remote",
        "keyboard",
        "microwave",
        "oven",
        "toaster",
        "sink",
        "refrigerator",
        "book",
        "clock",
        "dining table",
        "hair drier",
        "toothbrush",
    }
)

_KITCHEN_COCO = frozenset({"oven", "microwave", "refrigerator", "toaster"})
_KITCHEN_IMAGENET = ("stove", "refrigerator", "microwave", "dishwasher", "Dutch oven", "rotisserie", "plate rack")
_BATHROOM_IMAGENET = ("toilet seat", "washbasin", "bathtub", "shower curtain", "medicine chest")
_STREET_COCO = frozenset({"car", "bus", "truck", "traffic light", "stop sign", "fire hydrant", "parking meter"})
_FIELD_ANIMALS = frozenset({"horse", "sheep", "cow", "zebra", "giraffe", "elephant"})
_BEACH_IMAGENET = ("seashore", "sandbar")
_SNOW_IMAGENET = ("ski", "alp", "snowmobile", "dogsled")
_SNOW_COCO = frozenset({"skis", "snowboard"})
_WATER_COCO = frozenset({"boat", "surfboard"})
#: Things seen only in or by water, for the description's "by the water"
#: (issue 18). At MIN_SETTING_PROB their summed probability was water, a
#: pool, a lake, the sea or a beach in the references of 93 % of the photos
#: it named on both halves of flickr-dev (29 of the first 225), and of all
#: 3 on coco-dev.
_WATER_IMAGENET = (
    "swimming trunks",
    "bathing cap",
    "snorkel",
    "scuba diver",
    "paddle",
    "canoe",
    "speedboat",
    "lifeboat",
    "fireboat",
    "catamaran",
    "trimaran",
    "yawl",
    "schooner",
    "gondola",
    "liner",
    "container ship",
    "paddlewheel",
    "submarine",
    "wreck",
    "amphibian",
    "sandbar",
    "seashore",
    "lakeside",
    "breakwater",
    "pier",
    "dock",
    "boathouse",
    "coral reef",
    "killer whale",
    "grey whale",
)
#: A classifier's summed probability over a setting's classes that names it.
MIN_SETTING_PROB = 0.3
#: Rooms named by the classifier alone need more: on coco-dev a desk with a
#: laptop scored 0.37 "washbasin".
MIN_ROOM_PROB = 0.5


@dataclass(frozen=True)
class Scene:
    #: INDOORS, OUTDOORS, or None when the evidence does not decide.
    place: str | None
    #: Outdoor minus indoor evidence; positive means outdoors.
    margin: float
    #: A prepositional phrase for the sentence ("in a kitchen"), or None.
    setting: str | None


@functools.cache
def _indices(labels: tuple[str, ...], names: frozenset[str]) -> tuple[int, ...]:
    """Positions of ``names`` in ``labels``, looked up once per label set:
    judge() runs for every image and the label list never changes."""
    return tuple(i for i, label in enumerate(labels) if label in names)


def class_groups(labels: Sequence[str]) -> tuple[list[int], list[int]]:
    """ImageNet indices of outdoor-only and indoor-only classes."""
    labels = tuple(labels)
    return list(_indices(labels, _OUTDOOR_IMAGENET)), list(_indices(labels, _INDOOR_IMAGENET))


def blue_sky_share(image: Image.Image) -> float:
    """Share of sky-blue pixels in the top third of the frame."""
    thumb = image.convert("RGB")
    thumb.thumbnail((48, 48))
    w, h = thumb.size
    hsv = np.asarray(thumb.crop((0, 0, w, max(1, h // 3))).convert("HSV"), dtype=np.int32)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    # PIL's hue runs 0..255 over the circle: 133..170 is about 188..240 degrees.
    sky = (hue >= 133) & (hue <= 170) & (sat > 50) & (val > 120)
    return float(sky.mean())


def _prob(probs: Sequence[float], labels: Sequence[str], names: Sequence[str]) -> float:
    return sum(probs[i] for i in _indices(tuple(labels), frozenset(names)))


def judge(probs: Sequence[float], labels: Sequence[str], detections: Sequence[Detection], image: Image.Image) -> Scene:
    """Weigh the evidence. ``probs`` is the classifier's full softmax over ``labels``."""
    outdoor_ids, indoor_ids = class_groups(labels)
    outdoor = sum(probs[i] for i in outdoor_ids)
    indoor = sum(probs[i] for i in indoor_ids)
    found: dict[str, float] = {}
    for d in detections:
        if d.score >= MIN_EVIDENCE_SCORE:
            found[d.label] = max(found.get(d.label, 0.0), d.score)
    outdoor += sum(s for label, s in found.items() if label in _OUTDOOR_COCO)
    indoor += sum(s for label, s in found.items() if label in _INDOOR_COCO)
    outdoor += 2 * blue_sky_share(image)
    margin = outdoor - indoor
    place = OUTDOORS if margin >= MIN_MARGIN else INDOORS if margin <= -MIN_MARGIN else None
    return Scene(place, round(margin, 3), _setting(place, probs, labels, found))


def _setting(place: str | None, probs: Sequence[float], labels: Sequence[str], found: dict[str, float]) -> str | None:
    kinds = set(found)
    if place != OUTDOORS:
        kitchen = _prob(probs, labels, _KITCHEN_IMAGENET)
        if (
            len(kinds & _KITCHEN_COCO) >= 2
            or kitchen >= MIN_ROOM_PROB
            or (kinds & _KITCHEN_COCO and kitchen >= MIN_SETTING_PROB)
        ):
            return "in a kitchen"
        bathroom = _prob(probs, labels, _BATHROOM_IMAGENET)
        if "toilet" in kinds or bathroom >= MIN_ROOM_PROB or ("sink" in kinds and bathroom >= MIN_SETTING_PROB):
            return "in a bathroom"
        if {"couch", "tv"} <= kinds:
            return "in a living room"
    if place != INDOORS:
        if _prob(probs, labels, _BEACH_IMAGENET) >= MIN_SETTING_PROB:
            return "on a beach"
        if kinds & _SNOW_COCO or _prob(probs, labels, _SNOW_IMAGENET) >= MIN_SETTING_PROB:
            return "in the snow"
        # Airliners park next to buses and trucks; an apron is not a street.
        if place == OUTDOORS and kinds & _STREET_COCO and "airplane" not in kinds:
            return "on a street"
        if place == OUTDOORS and kinds & _WATER_COCO:
            return "on the water"
        if place == OUTDOORS and kinds & _FIELD_ANIMALS:
            return "in a field"
    return None


def by_water(probs: Sequence[float], labels: Sequence[str]) -> str | None:
    """ "by the water" when the classifier sees things that only occur there
    (swimming trunks, a canoe, a lakeside); for the description, not the
    short caption, whose settings are calibrated on coco-dev."""
    return "by the water" if _prob(probs, labels, _WATER_IMAGENET) >= MIN_SETTING_PROB else None
