"""The SQL text of search filters (store/_filter_sql.py), shared by the Store and the search view."""

from __future__ import annotations

import pytest

from picscribe.store import SearchFilters
from picscribe.store._filter_sql import allowed_sql, filter_sql, folder_range

EVERY_FILTER = SearchFilters(
    folder="/photos/100%_done/",
    date_from="2020-01-01 00:00:00",
    date_to="2020-12-31 23:59:59",
    objects=("dog", "person"),
    has_text=True,
    captioner="offline",
    model="v6",
    place="  São PAULO ",
    camera="NIKON",
)


def test_no_filters_add_no_conditions() -> None:
    assert filter_sql(SearchFilters()) == ("", [])


@pytest.mark.parametrize("listing", [False, True])
def test_each_parameter_has_its_placeholder_in_order(listing: bool) -> None:
    sql, params = allowed_sql(EVERY_FILTER, listing=listing)
    assert sql.count("?") == len(params)
    assert params == [
        "/photos/100%_done",
        "/photos/100%_done/",
        "/photos/100%_done0",
        "2020-01-01 00:00:00",
        "2020-12-31 23:59:59",
        "offline",
        "v6",
        "|sao paulo|",
        "nikon",
        "dog",
        "person",
    ]


def test_user_text_is_never_a_pattern() -> None:
    """'%' and '_' in a folder or a place are characters, not wildcards: key ranges and instr(), no LIKE."""
    sql, _ = allowed_sql(EVERY_FILTER, listing=True)
    assert "LIKE" not in sql.upper()
    assert folder_range("/a/b/") == ("/a/b/", "/a/b0")


def test_an_object_is_listed_through_its_index_and_checked_per_candidate() -> None:
    listed, _ = filter_sql(SearchFilters(objects=("dog",)), listing=True)
    checked, _ = filter_sql(SearchFilters(objects=("dog",)))
    assert "cc.caption_id IN (SELECT" in listed and "EXISTS" not in listed
    assert "EXISTS (SELECT 1 FROM objects" in checked


def test_blank_place_or_camera_filters_nothing() -> None:
    assert filter_sql(SearchFilters(place="  ", camera=" ")) == ("", [])
