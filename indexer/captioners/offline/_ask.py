"""Questions the offline captioner can answer honestly, and a refusal for the rest.

It has no language model, so it cannot read a question in general. It
recognises a few kinds of question that its own findings answer: what text
is visible (OCR), whether and how many of a COCO object are there (the
detector), indoors or outdoors (the scene rules), and the main colours.
Anything else gets a plain "this needs a VLM" rather than a guess.
"""

from __future__ import annotations

import re

from ...captioning import Answer, CaptionResult
from ...object_labels import COCO_EVERYDAY, EVERYDAY_WORDS
from ._wording import number_word, plural

NEEDS_VLM = (
    "The offline captioner can only answer questions about visible text, which objects it detects and how many, "
    "indoors or outdoors, and the main colours. This question needs a vision-language model: "
    "run with --captioner vlm (or vlm:MODEL)."
)

# Words people use for the detector's COCO classes (as the captioner names them).
_SYNONYMS = {**COCO_EVERYDAY, **EVERYDAY_WORDS}

_TEXT_Q = re.compile(r"\b(say|says|said|written|writing|text|read|reads|word|words|sign says|spell|letters)\b")
_COUNT_Q = re.compile(r"\bhow many ([a-z][a-z ]*?)(?: are| is| can| do| in| on| there|\?|$)")
_PRESENCE_Q = re.compile(
    r"^(?:is|are) there (?:a |an |any |some )?([a-z][a-z ]*?)(?: in| on| at| here|\?|$)"
    r"|^(?:does|do) (?:it|this|the (?:image|photo|picture)) (?:show|contain|have|include) "
    r"(?:a |an |any |some )?([a-z][a-z ]*?)(?:\?|$)"
)
_PLACE_Q = re.compile(r"\b(indoors?|outdoors?|inside|outside)\b")
_COLOUR_Q = re.compile(r"\bcolou?rs?\b.*\b(image|photo|picture)\b|\b(main|dominant) colou?rs?\b")


def _singular_forms(word: str) -> list[str]:
    """Candidate singulars, most specific rule first ("horses" -> "hors", "horse")."""
    forms = [_SYNONYMS.get(word, word)]
    for suffix, repl in (
        ("ies", "y"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("xes", "x"),
        ("ses", "s"),
        ("es", "e"),
        ("s", ""),
    ):
        if word.endswith(suffix) and not word.endswith("ss") and len(word) > len(suffix) + 1:
            stem = word[: -len(suffix)] + repl
            forms.append(_SYNONYMS.get(stem, stem))
    return forms


def _thing(phrase: str, known: set[str]) -> str | None:
    """The detector label a noun phrase names, trying the whole phrase, then its last words."""
    words = phrase.split()
    for candidate in (" ".join(words), " ".join(words[-2:]), words[-1] if words else ""):
        for form in _singular_forms(candidate):
            if form in known:
                return form
    return None


def answer(question: str, findings: CaptionResult, detectable: set[str]) -> Answer:
    """Answer from ``findings`` (the captioner's result for the image) or refuse.

    ``detectable`` is every label the detector can report, so that "is there a
    unicorn?" is refused (the detector cannot see unicorns) instead of being
    answered "no".
    """
    q = " ".join(question.lower().split())
    counts = {o.label: o.count for o in findings.objects}

    if _TEXT_Q.search(q):
        if findings.ocr_text.strip():
            return Answer(f'The visible text reads: "{" ".join(findings.ocr_text.split())}"', True, "ocr")
        return Answer("OCR found no readable text in this image.", True, "ocr")

    if m := _COUNT_Q.search(q):
        thing = _thing(m.group(1), detectable)
        if thing is not None:
            n = counts.get(thing, 0)
            noun = thing if n == 1 else plural(thing)
            if n == 0:
                return Answer(f"The detector found no {noun} (small or hidden ones can be missed).", True, "detector")
            return Answer(f"The detector counts {n} {noun}.", True, "detector")

    if m := _PRESENCE_Q.search(q):
        thing = _thing(m.group(1) or m.group(2) or "", detectable)
        if thing is not None:
            n = counts.get(thing, 0)
            if n:
                # As a person answers "Is there a dog?": "Yes, one." / "Yes, three."
                return Answer(f"Yes, {number_word(n)}.", True, "detector")
            return Answer(f"The detector found no {thing} (small or hidden ones can be missed).", True, "detector")

    if _PLACE_Q.search(q):
        place = findings.extra.get("place")
        if place:
            return Answer(f"It looks {place}.", True, "scene")
        return Answer("The evidence does not say whether it was taken indoors or outdoors.", True, "scene")

    if _COLOUR_Q.search(q):
        found = findings.extra.get("colours")
        colours = [str(c["name"]) for c in found if isinstance(c, dict)] if isinstance(found, list) else []
        if colours:
            return Answer(f"The main colours are {', '.join(colours)}.", True, "colours")

    return Answer(NEEDS_VLM, False, "none")
