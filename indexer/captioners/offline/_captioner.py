"""The ``offline`` backend: a template captioner over packaged vision models. Not a VLM.

It composes what small models that ship in pip packages can see: COCO
objects counted by CenterNet, ImageNet labels from EfficientNet-Lite0 in
plain words, a setting and indoors/outdoors from both (``_scene``), dominant
colours, OCR text, and an open_nsfw score. Everything works with no model
hub and no network. Every noun it writes comes from a detection or label
above a threshold calibrated with `picscribe eval`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from PIL import Image

from ...captioning import (
    TASK_ALT_TEXT,
    TASK_CAPTION,
    TASK_DETAILED,
    TASK_OCR,
    Answer,
    BaseCaptioner,
    CaptionerUnavailable,
    CaptionResult,
    ObjectCount,
    Tag,
)
from . import _appearance, _ask, _nsfw, _scene
from ._activities import activities, activity_sentences
from ._colours import Colour, dominant_colours
from ._faint import with_faint_words
from ._findings import COCO_LABELS, Detection, Face
from ._models import OCR_ENGINES, OfflineModels, PackagedModels, missing_packages
from ._plain_words import PERSON_CLASSES, plain_word
from ._stages import find, read_texts, stage_threads
from ._wording import counted, counted_number, everyday, join, with_article

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


def _quote_ocr(ocr: str) -> str:
    flat = " ".join(ocr.split())
    if len(flat) <= MAX_CAPTION_OCR_CHARS:
        return flat
    cut = flat[:MAX_CAPTION_OCR_CHARS].rsplit(" ", 1)[0] or flat[:MAX_CAPTION_OCR_CHARS]
    return cut + "…"


def detected_objects(detections: Sequence[Detection]) -> list[tuple[str, int]]:
    """(everyday word, count) for confident detections, biggest thing first."""
    counts: dict[str, int] = {}
    area: dict[str, float] = {}
    for d in detections:
        if d.score < MIN_DETECTION_SCORE:
            continue
        word = everyday(d.label)
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
            word = everyday(d.label)
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
            boxes.setdefault(everyday(d.label), []).append(d.box)
    out = []
    for word in words:
        if len(boxes.get(word, ())) != 1:
            continue
        x1, _, x2, _ = boxes[word][0]
        centre = (x1 + x2) / 2
        where = "on the left" if centre < _SIDE else "on the right" if centre > 1 - _SIDE else "in the middle"
        out.append(f"{with_article(word)} {where}")
    return out


#: Things of one kind get a colour each ("a black dog and a white dog") up to this many.
MAX_COLOURED = 3


def _area(box: tuple[float, float, float, float]) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def _with_colour(word: str, colour: str, count: int) -> str:
    """ "a black dog", "two white cars"."""
    return counted(f"{colour} {word}", count)


def described_things(
    image: Image.Image, detections: Sequence[Detection], objects: Sequence[tuple[str, int]], limit: int
) -> list[str]:
    """Each of the first ``limit`` ``objects`` (word, count), with the colour
    read from its own boxes: "a black dog and a white dog", "two white cars".

    A thing is coloured only when every box of its kind has a colour that
    dominates it and there are at most MAX_COLOURED of them; otherwise it
    is just counted ("a group of people"), as are people seen only as faces.
    People are never coloured (see below).
    """
    boxes: dict[str, list[tuple[float, float, float, float]]] = {}
    for d in detections:
        if d.score >= MIN_DETECTION_SCORE:
            boxes.setdefault(everyday(d.label), []).append(d.box)
    phrases = []
    for word, count in objects[:limit]:
        mine = sorted(boxes.get(word, []), key=_area, reverse=True)
        if word == "person":
            # A person's upper body was named in a colour the references used for
            # 18 % of 387 people on flickr-dev: skin, hair and shade, no better
            # than chance. Said only when measured right, so not said.
            mine = []
        colours = [_appearance.thing_colour(image, box) for box in mine]
        named = [c for c in colours if c is not None and c in _appearance.THING_COLOURS]
        if not mine or len(mine) != count or count > MAX_COLOURED or len(named) != count:
            phrases.append(counted(word, count))
            continue
        by_colour = {c: named.count(c) for c in dict.fromkeys(named)}
        phrases.append(join([_with_colour(word, c, n) for c, n in by_colour.items()]))
    return phrases


def caption_phrases(objects: Sequence[tuple[str, int]], words: Sequence[str], limit: int) -> list[str]:
    """Detected objects (counted) first, then classifier words they do not repeat."""
    seen = {w for w, _ in objects}
    phrases = [counted(w, n) for w, n in objects]
    phrases += [with_article(w) for w in words if w not in seen]
    return phrases[:limit]


def compose_caption(words: Sequence[str], setting: str | None = None) -> str:
    """The short caption, e.g. ``A photo of two horses in a field.``

    OCR text is kept out of it: quoted sign text is noise to a sentence
    about things (it cost 1.4 CIDEr-D on coco-dev); it is stored and searched
    separately. A photo with nothing but text is captioned by ``text_caption``.
    The setting ("in a kitchen") is added only after something is named:
    "A photo in a kitchen." says less than it seems to.
    """
    if not words:
        return "A photo."
    where = f" {setting}" if setting else ""
    return f"A photo of {join(list(words))}{where}."


#: ImageNet classes the classifier gives a photo of a sign, a screen of text or a
#: scoreboard: flat text on a plain ground (issue 22 found "web site" on 6 of 8 signs).
SIGN_CLASSES = frozenset({"street sign", "web site", "scoreboard"})


def text_caption(ocr: str, top_labels: Sequence[str]) -> str | None:
    """The caption of a photo that is mostly text, or None when it is not one.

    Called only when the detector found nothing and no face was seen, so the
    text is what the photo shows. It is called a sign only when the
    classifier's top guesses say so; otherwise it is just text, never an
    invented object.
    """
    flat = _quote_ocr(ocr)
    if sum(ch.isalnum() for ch in flat) < 2:
        return None
    if SIGN_CLASSES.intersection(top_labels[:3]):
        return f'A sign that says "{flat}".'
    return f'Text that reads "{flat}".'


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
    activity_text: str = "",
) -> str:
    """Short caption, where single things are, weaker candidates named as
    such, faces, indoors/outdoors, main colours, activities and places the
    classifier's classes imply (``_activities``), and the visible text."""
    text = compose_caption(words, setting)
    if placed:
        sentence = join(list(placed))
        text += f" {sentence[:1].upper()}{sentence[1:]}."
    if others:
        text += f" It may also show {join([with_article(w) for w in others])}."
    if faces:
        text += f" {'One face is' if faces == 1 else f'{counted_number(faces)} faces are'} visible."
    if place and not setting:
        text += f" It was taken {place}."
    if colours:
        names = [c.name for c in colours]
        text += f" The main colour{'s are' if len(names) > 1 else ' is'} {join(names)}."
    if activity_text:
        text += f" {activity_text}"
    if ocr.strip():
        text += f' Visible text: "{_quote_ocr(ocr)}".'
    return text


def compose_alt_text(words: Sequence[str], ocr: str, setting: str | None = None) -> str:
    """WCAG-style: no "image of" preamble, at most MAX_ALT_TEXT_CHARS."""
    text = join(list(words)) if words else "Photo"
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
        # A tuple, not a set: a set's order follows the process's string hash
        # seed, and the tags' order is part of the embedded text (issue 18),
        # so two processes (a Ray worker and the driver) embedded one photo
        # differently.
        for label in dict.fromkeys((d.label, everyday(d.label))):
            best[label] = max(best.get(label, 0.0), round(d.score, 4))
    return tuple(Tag(label, score) for label, score in best.items())


class OfflineCaptioner(BaseCaptioner):
    """Labels + OCR captioner that needs no network and no GPU.

    It always runs on the CPU: the classifier is ~5M parameters and OCR is
    onnxruntime on CPU, so a GPU would save little and would compete with the
    embedding model or a VLM for the same device.

    ``models`` is where the findings come from: the packaged networks by
    default, or a stub in a test of the sentences.
    """

    name: ClassVar[str] = "offline"
    tasks: ClassVar[frozenset[str]] = frozenset({TASK_CAPTION, TASK_DETAILED, TASK_ALT_TEXT, TASK_OCR})
    #: Questions about text, detected objects, indoors/outdoors and colours (see ``_ask``).
    can_ask = True

    def __init__(self, *, device: str = "auto", model: str | None = None, models: OfflineModels | None = None) -> None:
        # The one choice this backend has is its OCR engine: `offline:tesseract`.
        if model not in (None, *OCR_ENGINES):
            raise ValueError(
                f"the offline captioner has no model choices, only OCR engines {sorted(OCR_ENGINES)} "
                f"(got model={model!r})"
            )
        self.ocr_engine = model or "rapidocr"
        self.device = "cpu"  # `device` is accepted for a uniform constructor and ignored; see class doc.
        #: Models run at once, one core each (``_stages``); PICSCRIBE_OFFLINE_THREADS=1: in turn.
        self.threads = stage_threads()
        if models is None:
            packaged = PackagedModels(self.ocr_engine, threads=self.threads)
            if self.ocr_engine == "tesseract" and (reason := packaged.unavailable()):
                raise CaptionerUnavailable(reason)
            models = packaged
        self.models = models

    @property
    def model_id(self) -> str:
        # Bump the version when the same models start producing different
        # text: the id is how an index tells old captions from new ones.
        return f"v6:{self.models.version}"

    @classmethod
    def available(cls) -> str | None:
        """None if the packaged models can run here, else what is missing and how to install it."""
        return missing_packages()

    def ask(self, images: Sequence[Image.Image], questions: Sequence[str]) -> list[Answer]:
        """Answer what OCR, the detector, the scene rules or the colours can
        answer honestly; refuse the rest (see ``_ask``)."""
        if len(images) != len(questions):
            raise ValueError(f"{len(images)} images but {len(questions)} questions")
        detectable = {everyday(label) for label in COCO_LABELS}
        findings = self.caption(images, TASK_CAPTION)
        return [_ask.answer(q, f, detectable) for q, f in zip(questions, findings, strict=True)]

    def caption(self, images: Sequence[Image.Image], task: str = TASK_CAPTION) -> list[CaptionResult]:
        if task not in self.tasks:
            raise ValueError(f"offline captioner does not support task {task!r}; supported: {sorted(self.tasks)}")
        reason = self.models.unavailable()
        if reason is not None:
            raise CaptionerUnavailable(reason)
        if not images:
            return []
        if task == TASK_OCR:
            texts = read_texts(self.models, images, self.threads)
            return [CaptionResult(text=text, ocr_text=text) for text in texts]
        labels = self.models.labels
        seen = find(self.models, images, MIN_DETECTION_SCORE, self.threads)
        return [
            self._compose(image, task, labels, probs, nsfw, detections, faces, ocr)
            for image, probs, nsfw, detections, faces, ocr in zip(
                images, seen.probs, seen.nsfw, seen.detections, seen.faces, seen.text, strict=True
            )
        ]

    def _compose(
        self,
        image: Image.Image,
        task: str,
        labels: Sequence[str],
        probs: Sequence[float],
        nsfw: float,
        detections: Sequence[Detection],
        faces: Sequence[Face],
        ocr: str,
    ) -> CaptionResult:
        """One image's result from its findings: the sentence for ``task``, tags, objects, OCR text."""
        top = sorted(enumerate(probs), key=lambda ip: -ip[1])[:NUM_TAGS]
        words, others = choose_words(top, labels)
        objects = with_faces(detected_objects(detections), len(faces))
        scene = _scene.judge(probs, labels, detections, image)
        colours = dominant_colours(image)
        detailed = ""
        if task in (TASK_DETAILED, TASK_CAPTION):
            # The description is made with the caption too, for search (issue 18):
            # it names what tells this photo from similar ones, the caption stays short.
            ground = None if scene.place == _scene.INDOORS else _appearance.ground(image)
            ground = ground or _scene.by_water(probs, labels)
            things = described_things(image, detections, objects, MAX_DETAILED_OBJECTS)
            seen = {w for w, _ in objects}
            phrases = (things + [with_article(w) for w in words if w not in seen])[:MAX_DETAILED_OBJECTS]
            detailed = compose_detailed(
                phrases,
                others,
                ocr,
                setting=scene.setting or ground,
                place=scene.place,
                placed=positions(detections, [w for w, _ in objects][:MAX_DETAILED_OBJECTS]),
                colours=colours,
                faces=len(faces),
                activity_text=activity_sentences(activities(probs, labels), scene.setting or ground or ""),
            )
            detailed = with_faint_words(detailed, probs, labels)
        if task == TASK_DETAILED:
            text, detailed = detailed, ""
        elif task == TASK_ALT_TEXT:
            text = compose_alt_text(caption_phrases(objects, words, MAX_CAPTION_OBJECTS + 1), ocr, scene.setting)
        else:
            mostly_text = None if objects else text_caption(ocr, [labels[i] for i, _ in top])
            text = mostly_text or compose_caption(caption_phrases(objects, words, MAX_CAPTION_OBJECTS), scene.setting)
        tags = _merge_tags(
            _tags(top, labels)
            + _object_tags(detections)
            + tuple(Tag(c.name, c.share) for c in colours)
            + ((Tag(scene.place, 1.0),) if scene.place else ())
        )
        if nsfw >= _nsfw.FLAG_AT:
            tags += (Tag(_nsfw.TAG, round(nsfw, 4)),)
        extra: dict[str, object] = {
            "nsfw": round(nsfw, 4),
            "faces": [{"box": [round(v, 4) for v in f.box], "score": round(f.score, 4)} for f in faces],
            "place": scene.place,
            "setting": scene.setting,
            "colours": [{"name": c.name, "share": c.share} for c in colours],
        }
        counts = object_counts(detections, objects, faces)
        return CaptionResult(text=text, tags=tags, objects=counts, ocr_text=ocr, extra=extra, detailed=detailed)
