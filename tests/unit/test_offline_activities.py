"""Activities and places the offline captioner says from ImageNet classes that
only occur with them (issue 18): each behind its measured threshold, never
from a class that did not hold up against the references; and the
classifier's fainter guesses, named as such. Stub findings, no weights,
milliseconds."""

from __future__ import annotations

from picscribe.indexer import CaptionResult, Tag, embedding_text
from picscribe.indexer.captioners.offline import _activities
from picscribe.indexer.captioners.offline._activities import ACTIVITIES, activities, activity_sentences
from picscribe.indexer.captioners.offline._faint import faint_words, with_faint_words
from picscribe.indexer.captioners.offline._models import imagenet_labels

LABELS = imagenet_labels()


def _probs(**named: float) -> list[float]:
    """ImageNet probabilities: the named classes get theirs, the rest share what is left."""
    probs = [0.0] * len(LABELS)
    for label, p in named.items():
        probs[LABELS.index(label.replace("_", " "))] = p
    rest = (1.0 - sum(named.values())) / (len(LABELS) - len(named))
    return [p if p else rest for p in probs]


def _phrases(**named: float) -> list[str]:
    return [a.phrase for a in activities(_probs(**named), LABELS)]


def test_every_class_named_is_an_imagenet_label() -> None:
    for activity in ACTIVITIES:
        for label in activity.classes:
            assert label in LABELS, (activity.phrase, label)


def test_a_cliff_is_climbing_in_the_mountains() -> None:
    assert _phrases(cliff=0.3) == ["in the mountains", "climbing"]
    assert activity_sentences(activities(_probs(cliff=0.3), LABELS)) == (
        "It may show climbing. It may be in the mountains."
    )


def test_each_phrase_needs_its_threshold() -> None:
    bicycle = next(a for a in ACTIVITIES if a.phrase == "riding a bicycle")
    assert "riding a bicycle" not in _phrases(mountain_bike=bicycle.min_prob - 0.01)
    assert "riding a bicycle" in _phrases(mountain_bike=bicycle.min_prob)


def test_a_groups_classes_add_up() -> None:
    """Two swimwear classes at 0.03 each make 0.06: in the water at 0.05."""
    assert _phrases(swimming_trunks=0.03, bathing_cap=0.03) == ["in the water"]
    assert _phrases(swimming_trunks=0.03) == []


def test_both_maillot_classes_count() -> None:
    """ImageNet has two classes named "maillot"; each is swimwear."""
    indices = [i for i, label in enumerate(LABELS) if label == "maillot"]
    assert len(indices) == 2
    for i in indices:
        probs = [0.0] * len(LABELS)
        probs[i] = 0.06
        assert [a.phrase for a in activities(probs, LABELS)] == ["in the water"]


def test_classes_that_did_not_hold_up_say_nothing() -> None:
    """ski (0.33 held out), soccer ball (0.60), canoe (0.00), lakeside (0.50):
    measured against the references and left out."""
    assert _phrases(ski=0.9) == []
    assert _phrases(soccer_ball=0.9) == []
    assert _phrases(canoe=0.9) == []
    assert _phrases(lakeside=0.9) == []
    assert _phrases(golden_retriever=0.9) == []


def test_a_place_already_said_is_not_said_again() -> None:
    found = activities(_probs(dogsled=0.5, seashore=0.2), LABELS)
    assert activity_sentences(found, said="in the snow") == "It may be on a beach."
    assert activity_sentences(found) == "It may be in the snow and on a beach."
    assert activity_sentences([]) == ""


def test_thresholds_stay_where_they_were_measured() -> None:
    """A threshold moved without measuring again would say words at an unknown precision."""
    assert {a.phrase: a.min_prob for a in _activities.ACTIVITIES} == {
        "in the mountains": 0.1,
        "in the water": 0.05,
        "riding a bicycle": 0.2,
        "playing baseball": 0.1,
        "in the snow": 0.05,
        "on a beach": 0.05,
        "climbing": 0.05,
    }


def test_faint_guesses_past_the_top_five_are_named_as_such() -> None:
    # Five strong classes, then paddle and lakeside ("lake") at 2 %, a cliff at 0.5 %.
    probs = _probs(
        golden_retriever=0.3,
        tennis_ball=0.2,
        Labrador_retriever=0.1,
        lawn_mower=0.1,
        picket_fence=0.1,
        paddle=0.02,
        lakeside=0.02,
        cliff=0.005,
    )
    assert faint_words(probs, LABELS, "A photo of a dog.") == ["paddle", "lake"]
    assert with_faint_words("A photo of a dog.", probs, LABELS) == (
        "A photo of a dog. It might also show a paddle and a lake."
    )


def test_faint_guesses_in_everyday_words_without_repeats_people_or_what_is_said() -> None:
    top = {"lawn_mower": 0.2, "picket_fence": 0.2, "park_bench": 0.2, "barn": 0.1, "hay": 0.1}
    # Two dog breeds are one "dog", a canoe a "boat"; a groom is a person, said from the top classes only.
    probs = _probs(**top, Saluki=0.03, whippet=0.02, groom=0.05, canoe=0.02)
    assert faint_words(probs, LABELS, "") == ["dog", "boat"]
    assert faint_words(probs, LABELS, "A photo of a Dog on the grass.") == ["boat"]
    # A word inside another is not the word: "boat" is not in "boathouse".
    assert "boat" in faint_words(probs, LABELS, "a boathouse")


def test_nothing_faint_is_said_below_one_percent() -> None:
    probs = _probs(golden_retriever=0.9)
    assert faint_words(probs, LABELS, "") == []
    assert with_faint_words("A photo of a dog.", probs, LABELS) == "A photo of a dog."


def test_a_description_is_embedded_with_its_tags() -> None:
    described = CaptionResult(
        text="A photo of a dog.",
        detailed="A photo of a black dog on the grass.",
        tags=(Tag("Saluki", 0.4), Tag("green", 0.5), Tag("Saluki", 0.1)),
    )
    assert embedding_text(described) == "A photo of a black dog on the grass. Tags: Saluki, green."
    # A caption without a description (a person's, a VLM's) is embedded as it is.
    assert embedding_text(CaptionResult(text="A dog.", tags=(Tag("dog", 0.9),))) == "A dog."
