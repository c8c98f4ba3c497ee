"""Turn what a user types after ``--object`` into a label the index stores.

Captioners store everyday words ("table", "plant", "person"), while people
type COCO's category names ("dining table", "potted plant"), plurals
("dogs", "people") or a synonym ("sofa"). An exact stored label always
wins; otherwise these spellings are tried, and a name that matches none of
the index's labels is reported instead of silently finding nothing.
"""

from __future__ import annotations

from collections.abc import Collection

#: COCO category names as the offline captioner words and stores them.
COCO_EVERYDAY: dict[str, str] = {
    "dining table": "table",
    "sports ball": "ball",
    "potted plant": "plant",
    "cell phone": "phone",
    "tv": "television",
    "hair drier": "hair dryer",
}

#: Words people use for the things the detector finds, as the captioner names them.
#: One list for search's --object and for the offline captioner's answers (ask).
EVERYDAY_WORDS: dict[str, str] = {
    "people": "person",
    "persons": "person",
    "human": "person",
    "humans": "person",
    "man": "person",
    "men": "person",
    "woman": "person",
    "women": "person",
    "child": "person",
    "children": "person",
    "kid": "person",
    "kids": "person",
    "boy": "person",
    "girl": "person",
    "puppy": "dog",
    "puppies": "dog",
    "kitten": "cat",
    "kitty": "cat",
    "automobile": "car",
    "bike": "bicycle",
    "motorbike": "motorcycle",
    "aeroplane": "airplane",
    "plane": "airplane",
    "sofa": "couch",
    "mobile phone": "phone",
    "cellphone": "phone",
    "smartphone": "phone",
    "telephone": "phone",
    "tv monitor": "television",
    "monitor": "television",
    "houseplant": "plant",
    "boys": "person",
    "girls": "person",
    "guy": "person",
    "guys": "person",
    "lady": "person",
    "ladies": "person",
    "player": "person",
    "players": "person",
    "jet": "airplane",
    "telly": "television",
    "mobile": "phone",
    "mice": "mouse",
    "knives": "knife",
    "cattle": "cow",
    "hotdog": "hot dog",
    "doughnut": "donut",
    "fridge": "refrigerator",
}

#: The other way: a label some captioner stores in COCO's own words.
_STORED_AS_COCO: dict[str, str] = {
    "table": "dining table",
    "plant": "potted plant",
    "phone": "cell phone",
    "television": "tv",
    "ball": "sports ball",
}

_SYNONYMS: dict[str, str] = {**COCO_EVERYDAY, **EVERYDAY_WORDS, **_STORED_AS_COCO}

_IRREGULAR_SINGULARS = {"mice": "mouse", "knives": "knife", "sheep": "sheep", "skis": "skis", "glasses": "glass"}


def normalise(name: str) -> str:
    """Lower case, single spaces: how labels are compared."""
    return " ".join(name.lower().split())


def _singulars(name: str) -> list[str]:
    head, _, last = name.rpartition(" ")
    words: list[str] = []
    if last in _IRREGULAR_SINGULARS:
        words.append(_IRREGULAR_SINGULARS[last])
    if last.endswith("ies") and len(last) > 4:
        words.append(last[:-3] + "y")
    if last.endswith(("ches", "shes", "xes", "ses")):
        words.append(last[:-2])
    if last.endswith("s") and not last.endswith("ss"):
        words.append(last[:-1])
    return [f"{head} {w}" if head else w for w in words]


def spellings(name: str) -> list[str]:
    """The labels ``name`` may mean, most literal first."""
    name = normalise(name)
    out = [name]
    for form in [name, *_singulars(name)]:
        if form not in out:
            out.append(form)
        alias = _SYNONYMS.get(form)
        if alias is not None and alias not in out:
            out.append(alias)
    return out


def resolve_object_label(name: str, known: Collection[str]) -> str | None:
    """The stored label among ``known`` that ``name`` means, or None when it means none of them."""
    return next((form for form in spellings(name) if form in known), None)
