"""Why a hit matched (search/explain.py) and how a card shows it (ui)."""

from __future__ import annotations

import pytest

from picscribe.search.explain import Matched, explain, match_spans
from picscribe.search.fusion import DEFAULT_WEIGHTS, OLD_HYBRID, fuse, text_share
from picscribe.search.query import quoted_phrases
from picscribe.ui.results import match_reason
from picscribe.ui.views.search_page import highlighted


def test_caption_words_match_by_stem_and_stop_words_are_left_out() -> None:
    m = explain("the dogs running on a beach", {"caption": "A dog runs along the beach."}, 0.61)
    # "running" and "runs" share porter's stem "run"; "the", "on", "a" are stop words.
    assert m.caption == ("dogs", "running", "beach")
    assert m.ocr == m.tags == m.objects == m.place == ()
    assert m.dense == 0.61


def test_ocr_hit_is_told_apart_from_a_caption_hit() -> None:
    fields = {"caption": "a red sign by a road", "ocr": "STOP\nALL WAY", "tags": "street sign", "objects": "stop sign"}
    m = explain("stop sign", fields, 0.4)
    assert m.caption == ("sign",)
    assert m.ocr == ("stop",)
    assert m.tags == ("sign",)
    assert m.objects == ("stop", "sign")
    assert m.words == ("sign", "stop")


def test_place_words_match_the_place_field() -> None:
    m = explain("photos taken in Portugal", {"caption": "a tram on a hill", "place": "Lisbon, Lisbon, Portugal"}, 0.2)
    assert m.place == ("portugal",)
    assert m.caption == ()


def test_diacritics_fold_as_the_keyword_index_folds_them() -> None:
    assert explain("cafe", {"caption": "a small café"}, 0.0).caption == ("cafe",)
    assert explain("café", {"caption": "A CAFE"}, 0.0).caption == ("café",)


def test_no_word_of_the_query_in_any_field() -> None:
    m = explain("zebra", {"caption": "a cat"}, 0.1)
    assert m.words == ()
    assert m.to_json() == {
        "caption": [],
        "ocr": [],
        "tags": [],
        "objects": [],
        "place": [],
        "dense": 0.1,
        "phrases": [],
    }


def test_match_spans_mark_every_occurrence_of_a_matched_word() -> None:
    text = "Dogs and a dog's ball: dogged."
    spans = match_spans(text, ["dogs"])
    # Porter stems all three to "dog"; the tokenizer splits "dog's" at the apostrophe.
    assert [text[a:b] for a, b in spans] == ["Dogs", "dog", "dogged"]
    assert spans[0] == (0, 4)
    assert match_spans(text, []) == []


def test_highlighted_caption_is_escaped_markdown_with_bold_matches() -> None:
    text = "a *dog* [link](http://x) <b>"
    md = highlighted(text, tuple(match_spans(text, ["dog"])))
    assert md == r"a \***dog**\* \[link\]\(http\://x\) \<b\>"
    # Nothing of the caption is live markdown or HTML: no link, no tag.
    assert "[link](" not in md and "<b>" not in md
    assert highlighted("plain words", ()) == "plain words"


def test_card_reason_says_why_when_the_caption_does_not() -> None:
    assert match_reason(Matched(ocr=("stop",), dense=0.3)) == "matched text in photo"
    assert match_reason(Matched(place=("lisbon",)), "Lisbon, Portugal") == "taken in Lisbon, Portugal"
    assert match_reason(Matched(place=("lisbon",))) == "taken in Lisbon"
    # The caption already says it: no extra reason.
    assert match_reason(Matched(caption=("stop",), ocr=("stop",))) is None
    assert match_reason(Matched(caption=("dog",), dense=0.7)) is None


@pytest.mark.parametrize(
    ("query", "phrases"),
    [
        ('a sign saying "open 24 hours"', ["open 24 hours"]),
        ('\u201cfish market\u201d and "fish market" again', ["fish market"]),
        ('"unbalanced AND (NEAR', []),
        ('""  " " "!!"', []),
        ("no quotes", []),
    ],
)
def test_quoted_phrases(query: str, phrases: list[str]) -> None:
    assert quoted_phrases(query) == phrases


def test_a_quoted_phrase_matches_only_word_for_word() -> None:
    fields = {"caption": "a shop sign", "ocr": "OPEN 24 HOURS A DAY"}
    assert explain('"open 24 hours"', fields, 0.0).phrases == ("open 24 hours",)
    # Every word is there, but not in that order, or not next to each other.
    assert explain('"hours open"', fields, 0.0).phrases == ()
    assert explain('"open hours"', fields, 0.0).phrases == ()
    # Stemmed like the keyword index: "hour" matches "HOURS".
    assert explain('"24 hour"', fields, 0.0).phrases == ("24 hour",)


def test_text_share_counts_words_in_the_photos_text_or_place_only() -> None:
    m = Matched(caption=("red", "tram"), ocr=("tram",), place=("lisbon",))
    assert text_share(m, 4) == 0.5
    assert text_share(Matched(caption=("red",)), 1) == 0.0
    assert text_share(m, 0) == 0.0


def test_a_persons_keywords_count_as_text_but_generated_tags_do_not() -> None:
    m = Matched(caption=("boat",), tags=("quillwort",))
    assert text_share(m, 2) == 0.0
    assert text_share(m, 2, exact_tags=True) == 0.5


def test_default_fusion_is_dense_plus_text_and_phrase_evidence() -> None:
    cos = {1: 0.62, 2: 0.55, 3: 0.20}
    bm25 = {1: 1.0, 2: 4.0}
    # Caption-wide BM25 does not move the default ranking...
    assert fuse(cos, bm25) == pytest.approx(cos)
    # ...the old hybrid let it lift 2 over 1.
    old = fuse(cos, bm25, OLD_HYBRID)
    assert old[2] > old[1]
    # A full match of the photo's text outweighs a near caption, not a clearly better one.
    fused = fuse(cos, bm25, DEFAULT_WEIGHTS, text={2: 1.0, 3: 1.0})
    assert fused[2] > fused[1] > fused[3]
    # A quoted phrase found verbatim lifts its photo first.
    fused = fuse(cos, bm25, DEFAULT_WEIGHTS, phrases={3: 1.0})
    assert max(fused, key=fused.__getitem__) == 3
