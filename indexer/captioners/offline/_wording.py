"""English for the offline captioner's sentences and answers: articles, plurals, counts.

Shared by the caption composer and the question answerer (``_ask``), which
otherwise would import each other.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...object_labels import COCO_EVERYDAY

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


def with_article(label: str) -> str:
    lower = label.lower()
    if lower in _MASS_NOUNS:
        return label
    vowel = lower[:1] in set("aeiou")
    if lower.startswith(_A_PREFIXES):
        vowel = False
    elif lower.startswith(_AN_PREFIXES):
        vowel = True
    return f"{'an' if vowel else 'a'} {label}"


def join(phrases: Sequence[str]) -> str:
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


# COCO category names as people say them.
_EVERYDAY = COCO_EVERYDAY
_IRREGULAR_PLURALS = {"person": "people", "mouse": "mice", "knife": "knives", "sheep": "sheep", "skis": "skis"}
_NUMBERS = {2: "two", 3: "three", 4: "four"}


def plural(word: str) -> str:
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
        return with_article(word)
    if count in _NUMBERS:
        return f"{_NUMBERS[count]} {plural(word)}"
    return f"a group of {plural(word)}"


def counted_number(n: int) -> str:
    """ "Two", "Three", ... for a sentence start; digits past four."""
    return _NUMBERS.get(n, str(n)).capitalize()


def number_word(n: int) -> str:
    """ "one" to "twelve" in words, as people answer a count; digits past that."""
    words = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
    return words[n - 1] if 1 <= n <= len(words) else str(n)


def everyday(label: str) -> str:
    """A COCO category name as people say it ("dining table" -> "table")."""
    return _EVERYDAY.get(label, label)
