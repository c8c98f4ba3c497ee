"""Caption metrics against values worked out by hand (arithmetic in the comments).

BLEU, ROUGE-L and CIDEr-D follow coco-caption's scorers, so the hand
computations follow their definitions, quirks included.
"""

from __future__ import annotations

import math

import pytest

from picscribe.evaluation.metrics import (
    bleu,
    bleu4,
    cider_d,
    cider_d_per_image,
    noun_precision,
    rouge_l,
    rouge_l_per_image,
    tokenize,
)
from picscribe.evaluation.nouns import COCO_SYNONYMS, object_nouns, plural


def test_tokenizer_lowercases_and_turns_punctuation_into_spaces() -> None:
    assert tokenize("A man's hot-dog, please!") == ["a", "man", "s", "hot", "dog", "please"]
    assert tokenize("  Two\tdogs.\n") == ["two", "dogs"]


# -- BLEU ------------------------------------------------------------------------


def test_bleu_of_a_perfect_match_is_one() -> None:
    # Every n-gram matches (6/6, 5/5, 4/4, 3/3) and the lengths are equal (no penalty).
    assert bleu4(["A dog runs on the grass."], [["a dog runs on the grass"]]) == pytest.approx(1.0)


def test_bleu_brevity_penalty_for_a_short_candidate() -> None:
    # "the cat sat on" against "the cat sat on the mat": all n-grams match
    # (4/4, 3/3, 2/2, 1/1), so the precision part is 1. Candidate length 4,
    # reference 6: BP = exp(1 - 6/4) = exp(-0.5) = 0.60653.
    assert bleu4(["the cat sat on"], [["the cat sat on the mat"]]) == pytest.approx(math.exp(-0.5))


def test_bleu_uses_the_closest_reference_length_and_the_shorter_on_a_tie() -> None:
    # Candidate length 4; references of length 3 and 5 are equally close, and
    # coco-caption takes the shorter (3): 4/3 > 1, so no penalty. Every
    # n-gram of the candidate is in the second reference, so BLEU-4 = 1.
    # (Had it taken 5, BP would be exp(1 - 5/4) = 0.7788.)
    refs = [["the cat sat", "the cat sat on mat"]]
    assert bleu4(["the cat sat on"], refs) == pytest.approx(1.0)
    # A single reference of length 5 does apply the penalty.
    assert bleu4(["the cat sat on"], [["the cat sat on mat"]]) == pytest.approx(math.exp(1 - 5 / 4))


def test_bleu_clips_repeated_words_by_the_reference_count() -> None:
    # "the" occurs 4 times in the candidate but once in the reference:
    # clipped unigram precision = 1/4. Candidate 4 words, reference 2: no penalty.
    assert bleu(["the the the the"], [["the cat"]], n=1) == [pytest.approx(0.25)]


def test_bleu_is_pooled_over_the_corpus_not_averaged_per_caption() -> None:
    # Image 1: "a dog runs fast" = its reference: 4/4 unigrams, 3/3 bigrams, 2/2, 1/1.
    # Image 2: "red car" vs "red bus": 1/2 unigrams, 0/1 bigrams, no 3- or 4-grams.
    # Pooled: p1 = 5/6, p2 = 3/4, p3 = 2/2, p4 = 1/1; lengths 6 vs 6 (no penalty).
    # BLEU-4 = (5/6 * 3/4 * 1 * 1) ** (1/4) = 0.625 ** 0.25 = 0.88914.
    score = bleu4(["a dog runs fast", "red car"], [["a dog runs fast"], ["red bus"]])
    assert score == pytest.approx(0.625**0.25)


# -- ROUGE-L -----------------------------------------------------------------------


def test_rouge_l_on_two_captions() -> None:
    # Image 1: candidate "a man riding a horse" (5 tokens).
    #   vs "a man is riding a brown horse" (7): LCS = a man riding a horse = 5; P = 5/5, R = 5/7.
    #   vs "a dog" (2): LCS = 1; P = 1/5, R = 1/2.
    #   max P = 1, max R = 5/7; F = (1 + 1.2^2) P R / (R + 1.2^2 P)
    #     = 2.44 * 5/7 / (5/7 + 1.44) = 12.2 / 15.08 = 0.80902.
    # Image 2: "a cat" = its reference: F = 1.
    cands = ["a man riding a horse", "a cat"]
    refs = [["a man is riding a brown horse", "a dog"], ["a cat"]]
    assert rouge_l_per_image(cands, refs) == [pytest.approx(12.2 / 15.08), pytest.approx(1.0)]
    assert rouge_l(cands, refs) == pytest.approx((12.2 / 15.08 + 1.0) / 2)


def test_rouge_l_takes_best_precision_and_best_recall_separately_as_coco_caption_does() -> None:
    # "red car parked" vs "a red car parked on a street": LCS 3, P = 1, R = 3/7.
    #                  vs "car": LCS 1, P = 1/3, R = 1.
    # coco-caption combines max P (1) with max R (1): F = 2.44 / 2.44 = 1.0,
    # although no single reference scores that (the first gives 0.6419).
    assert rouge_l(["red car parked"], [["a red car parked on a street", "car"]]) == pytest.approx(1.0)


# -- CIDEr-D -----------------------------------------------------------------------


def test_cider_d_identical_to_all_references_and_unrelated() -> None:
    # Two images, so idf = log(2) - log(df). Image A's reference n-grams occur
    # only in A (df 1), so every weight is log 2; the candidate equals each of
    # the 5 references, so the cosine is 1 for n = 1..4 and the length
    # penalty exp(0) = 1: A = 10 * mean(1, 1, 1, 1) = 10.
    # Image B's candidate shares no n-gram with B's reference: B = 0.
    # Mean = 5.0, i.e. "CIDEr-D 500" on the x100 scale.
    ref_a = "a brown dog runs fast"
    cands = [ref_a, "a green boat floats quietly"]
    refs = [[ref_a] * 5, ["the red car is parked"]]
    assert cider_d_per_image(cands, refs) == [pytest.approx(10.0), pytest.approx(0.0)]
    assert cider_d(cands, refs) == pytest.approx(5.0)


def test_cider_d_partial_match_with_length_penalty() -> None:
    # A: candidate "brown dog runs fast" vs reference "a brown dog runs fast";
    # every weight is w = log 2 (all n-grams have df 1, or 0 -> treated as 1).
    #   n=1: 4 shared of 4 vs 5: 4w^2 / (2w * sqrt5 w)   = 2/sqrt5     = 0.894427
    #   n=2: 3 of 3 vs 4:        3 / (sqrt3 * 2)          = sqrt3/2     = 0.866025
    #   n=3: 2 of 2 vs 3:        2 / (sqrt2 * sqrt3)      = sqrt(2/3)   = 0.816497
    #   n=4: 1 of 1 vs 2:        1 / (1 * sqrt2)          = 1/sqrt2     = 0.707107
    #   length (coco-caption counts bigrams): 3 vs 4, delta -1:
    #   penalty exp(-1 / (2 * 6^2)) = exp(-1/72) = 0.986207
    #   A = 10 * 0.986207 * (0.894427 + 0.866025 + 0.816497 + 0.707107) / 4 = 8.09690
    # B: identical to its reference of 5 words: 10.
    cosines = [2 / math.sqrt(5), math.sqrt(3) / 2, math.sqrt(2 / 3), 1 / math.sqrt(2)]
    expected_a = 10 * math.exp(-1 / 72) * sum(cosines) / 4
    scores = cider_d_per_image(
        ["brown dog runs fast", "the red car is parked"],
        [["a brown dog runs fast"], ["the red car is parked"]],
    )
    assert scores == [pytest.approx(expected_a), pytest.approx(10.0)]
    assert expected_a == pytest.approx(8.0969, abs=1e-4)


def test_cider_d_clips_repeated_ngrams() -> None:
    # A: "dog dog" vs "a dog" (w = log 2 everywhere).
    #   n=1: candidate tf-idf {dog: 2w}, reference {a: w, dog: w}.
    #        clipped dot = min(2w, w) * w = w^2; norms 2w and sqrt2 w -> 1/(2 sqrt2) = 0.353553
    #        (unclipped it would be 2w^2 / (2w * sqrt2 w) = 0.7071)
    #   n=2: "dog dog" is not in the reference -> 0; n=3, 4: no n-grams -> 0.
    #   length 1 bigram each -> no penalty. A = 10 * 0.353553 / 4 = 0.883883
    # B: "the car" = its reference: n=1 and n=2 cosines 1, n=3, 4 zero -> 10 * 2/4 = 5.
    scores = cider_d_per_image(["dog dog", "the car"], [["a dog"], ["the car"]])
    assert scores == [pytest.approx(10 * (1 / (2 * math.sqrt(2))) / 4), pytest.approx(5.0)]
    assert sum(scores) / 2 == pytest.approx(2.941942, abs=1e-6)


def test_cider_d_of_a_single_image_is_zero() -> None:
    # idf = log(1) - log(df) = 0 for every reference n-gram: coco-caption's
    # corpus document frequency needs more than one image.
    assert cider_d(["a dog"], [["a dog"]]) == 0.0


def test_metrics_reject_mismatched_inputs() -> None:
    with pytest.raises(ValueError):
        bleu4(["a", "b"], [["a"]])
    with pytest.raises(ValueError):
        cider_d(["a"], [[]])


# -- noun precision -----------------------------------------------------------------


def test_noun_precision_with_a_synonym_and_hallucinated_nouns() -> None:
    cands = [
        # man -> person (in objects), motorbike -> motorcycle (in objects),
        # dog and giraffe: neither in objects nor in the references. 2/4.
        "A man and a dog next to a motorbike and a giraffe.",
        # No objects given: puppy -> dog and sofa -> couch, both concepts the
        # reference names ("dog", "couch"). 2/2.
        "A puppy sleeping on a sofa.",
        # No object noun at all: left out of the average.
        "A bright picture that is mostly grey.",
    ]
    refs = [
        ["A woman sits on a motorcycle.", "Someone parked on the street."],
        ["A dog asleep on the couch."],
        ["A grey wall."],
    ]
    objects = [{"person": 2, "motorcycle": 1}, None, {}]
    result = noun_precision(cands, refs, objects)
    # Per caption: 0.5 and 1.0 -> mean 0.75; pooled: 4 of 6.
    assert result.precision == pytest.approx(0.75)
    assert result.micro_precision == pytest.approx(4 / 6)
    assert (result.nouns, result.correct) == (6, 4)
    assert (result.captions_with_nouns, result.captions_without_nouns) == (2, 1)
    assert result.hallucinated == [["dog", "giraffe"], [], []]


def test_noun_counts_as_correct_when_the_word_itself_is_in_a_reference() -> None:
    # "table" is the COCO concept "dining table"; the reference's "table lamp"
    # is a lamp, so the concept is not supported, but the word "table" is there.
    result = noun_precision(["a table"], [["a table lamp next to a bed"]], [None])
    assert result.precision == 1.0
    # Singular/plural: "horses" in the caption, "horse" in the reference.
    assert noun_precision(["two horses"], [["a horse in a field"]], [None]).precision == 1.0


def test_zero_count_objects_do_not_support_a_noun() -> None:
    assert noun_precision(["a cat"], [["a room"]], [{"cat": 0}]).precision == 0.0


def test_object_nouns_longest_match_and_colour_words() -> None:
    assert [m.concept for m in object_nouns("a hot dog and a table lamp")] == ["hot dog", "lamp"]
    assert [m.concept for m in object_nouns("An orange cat on a bed")] == ["cat", "bed"]
    assert [m.concept for m in object_nouns("an orange on a plate")] == ["orange", "plate"]
    assert [m.concept for m in object_nouns("Three Golden Retrievers")] == ["dog"]
    assert [m.text for m in object_nouns("two women and their children")] == ["women", "children"]


def test_noun_table_covers_the_80_coco_categories() -> None:
    assert len(COCO_SYNONYMS) == 80
    # Each category's own name is read as that category.
    for category in COCO_SYNONYMS:
        assert [m.concept for m in object_nouns(category)] == [category]


def test_plurals() -> None:
    assert [plural(w) for w in ["dog", "bus", "knife", "pony", "monkey", "policeman", "sheep", "tennis racket"]] == [
        "dogs",
        "buses",
        "knives",
        "ponies",
        "monkeys",
        "policemen",
        "sheep",
        "tennis rackets",
    ]
