"""The rule that picks the caption search uses (``store._current``), on plain
values: human text, then the active captioner, then the newest."""

from __future__ import annotations

import itertools

from picscribe.store._current import Candidate, CurrentChange, diff_current, pick_all, pick_current

BLIP = ("blip", "blip-base")
FLORENCE = ("florence", "florence-2")


def cap(caption_id: int, who: tuple[str, str], created_at: str, *, human: bool = False) -> Candidate:
    return Candidate(caption_id, human, who[0], who[1], created_at)


def test_human_text_beats_generated_text_even_newer_and_active() -> None:
    human = cap(1, ("human", "ui-edit"), "2024-01-01T00:00:00+00:00", human=True)
    active_newer = cap(2, BLIP, "2025-01-01T00:00:00+00:00")
    assert pick_current([human, active_newer], active=BLIP) == 1
    assert pick_current([active_newer, human], active=None) == 1


def test_the_newest_human_text_wins_among_human_texts() -> None:
    older = cap(7, ("human", "xmp"), "2024-01-01T00:00:00+00:00", human=True)
    newer = cap(3, ("human", "ui-edit"), "2024-06-01T00:00:00+00:00", human=True)
    assert pick_current([older, newer], active=None) == 3


def test_active_captioner_beats_a_newer_caption_of_another_captioner() -> None:
    active = cap(1, BLIP, "2024-01-01T00:00:00+00:00")
    newer_other = cap(2, FLORENCE, "2025-01-01T00:00:00+00:00")
    assert pick_current([active, newer_other], active=BLIP) == 1


def test_active_means_the_same_captioner_and_model() -> None:
    other_model = cap(1, ("blip", "blip-large"), "2025-01-01T00:00:00+00:00")
    active = cap(2, BLIP, "2024-01-01T00:00:00+00:00")
    assert pick_current([other_model, active], active=BLIP) == 2
    # Same captioner, other model only: not active, so the newest wins.
    older_other_model = cap(3, ("blip", "blip-tiny"), "2023-01-01T00:00:00+00:00")
    assert pick_current([other_model, older_other_model], active=BLIP) == 1


def test_without_a_human_or_active_caption_the_newest_wins() -> None:
    old = cap(5, BLIP, "2024-01-01T00:00:00+00:00")
    new = cap(4, FLORENCE, "2024-01-02T00:00:00+00:00")
    assert pick_current([old, new], active=None) == 4
    # An active captioner with no caption for this content changes nothing.
    assert pick_current([old, new], active=("other", "m")) == 4


def test_a_tie_in_time_goes_to_the_higher_id_whatever_the_order() -> None:
    same_second = "2024-01-01T00:00:00+00:00"
    rows = [cap(10, BLIP, same_second), cap(12, FLORENCE, same_second), cap(11, ("x", "y"), same_second)]
    for order in itertools.permutations(rows):
        assert pick_current(order, active=None) == 12


def test_no_candidates_means_no_current_caption() -> None:
    assert pick_current([], active=BLIP) is None


def test_changing_the_active_captioner_switches_search_but_not_human_text() -> None:
    candidates = {
        "h1": [cap(1, BLIP, "2024-01-01T00:00:00+00:00"), cap(2, FLORENCE, "2024-01-01T00:00:00+00:00")],
        "h2": [cap(3, BLIP, "2024-01-01T00:00:00+00:00"), cap(4, ("human", "ui-edit"), "2023-01-01", human=True)],
        # Not yet re-captioned by florence: keeps its blip caption.
        "h3": [cap(5, BLIP, "2024-01-01T00:00:00+00:00")],
    }
    live = {"h1", "h2", "h3"}
    on_blip = pick_all(candidates, live, BLIP)
    on_florence = pick_all(candidates, live, FLORENCE)
    assert on_blip == {"h1": 1, "h2": 4, "h3": 5}
    assert on_florence == {"h1": 2, "h2": 4, "h3": 5}
    change = diff_current(on_blip, on_florence)
    assert change == CurrentChange(stale=["h1"], removed_ids=[1], added={"h1": 2})


def test_content_no_file_has_is_not_searchable() -> None:
    candidates = {"gone": [cap(1, BLIP, "2024-01-01")], "kept": [cap(2, BLIP, "2024-01-01")]}
    assert pick_all(candidates, live={"kept", "no-captions"}, active=BLIP) == {"kept": 2}


def test_diff_of_an_unchanged_choice_is_empty() -> None:
    assert diff_current({"a": 1, "b": 2}, {"a": 1, "b": 2}) == CurrentChange(stale=[], removed_ids=[], added={})


def test_diff_removes_lost_content_and_adds_new_content() -> None:
    change = diff_current({"a": 1, "gone": 2}, {"a": 1, "new": 3})
    assert change == CurrentChange(stale=["gone"], removed_ids=[2], added={"new": 3})


def test_a_caption_rewritten_in_place_goes_out_and_back_in() -> None:
    # Its text or vector changed under the same id: the keyword row and the
    # FAISS vector must be replaced, so it counts as removed and added.
    change = diff_current({"a": 1, "b": 2}, {"a": 1, "b": 2}, rewritten={2})
    assert change == CurrentChange(stale=["b"], removed_ids=[2], added={"b": 2})
