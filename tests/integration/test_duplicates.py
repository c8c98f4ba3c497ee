"""`picscribe duplicates` and the collapsing of copies in search, on a
generated library with known copies (tests/support/duplicate_library.py):
each tier groups exactly the right files, no unrelated photo joins a group,
and search shows one card per picture without changing the ranking."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from support.cli import Run
from support.duplicate_library import BURST, EXACT, EXPECTED, SAME_PICTURE, build

from picscribe import Library
from picscribe.indexer import picture_hash_fill
from picscribe.store import DB_NAME


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> tuple[Path, Path]:
    """The generated library and an index of it, made once for the module: (photos, index home)."""
    photos = build(tmp_path_factory.mktemp("dups"))
    index_home = tmp_path_factory.mktemp("dups-index") / "home"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PICSCRIBE_CACHE", str(model_cache))
        env.setenv("HF_HUB_OFFLINE", "1")
        with Library.open(index_home, captioner="fake") as lib:
            report = lib.index([photos])
    assert not report.failures
    return photos, index_home


@pytest.fixture
def indexed(library: tuple[Path, Path], home: Path) -> Path:
    """This test's own copy of the module's index, in its PICSCRIBE_HOME; returns the photos' folder."""
    photos, index_home = library
    shutil.copytree(index_home, home)
    return photos


def _groups(run: Run, *args: str) -> list[dict]:
    result = run("duplicates", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _members(group: dict, root: Path) -> set[str]:
    return {str(Path(f["path"]).relative_to(root)) for f in [group["keep"], *group["others"]]}


@pytest.mark.parametrize("tier", ["exact", "same", "similar"])
def test_each_tier_groups_exactly_the_right_files(run: Run, indexed: Path, tier: str) -> None:
    groups = _groups(run, "--tier", tier)
    assert {g["tier"] for g in groups} == {tier}
    assert [_members(g, indexed) for g in groups] == EXPECTED[tier]


def test_without_a_tier_all_three_are_listed_each_as_what_it_is(run: Run, indexed: Path) -> None:
    groups = _groups(run)
    assert [(g["tier"], _members(g, indexed)) for g in groups] == [
        ("exact", set(EXACT)),
        ("same", set(SAME_PICTURE)),
        ("similar", set(BURST)),
    ]


def test_photos_of_the_same_kind_of_scene_are_not_the_same_picture(run: Run, indexed: Path) -> None:
    grouped = set().union(*(_members(g, indexed) for g in _groups(run, "--tier", "same")))
    # Two laptops on desks and two kitchens among the unrelated photos: none is grouped.
    assert not {p for p in grouped if p.startswith("other/")}
    assert not {p for p in grouped if p.startswith("burst/")}


def test_keep_suggestion_prefers_resolution_then_age_and_says_why(run: Run, indexed: Path) -> None:
    by_tier = {g["tier"]: g for g in _groups(run)}
    # Full size ties among most copies of the cake photo; the original is the oldest file.
    same = by_tier["same"]
    assert same["keep"]["path"] == str(indexed / "cake" / "original.jpg")
    assert "oldest" in same["why"]
    assert (same["keep"]["width"], same["keep"]["height"]) == (640, 422)
    assert by_tier["exact"]["keep"]["path"] == str(indexed / "cake" / "original.jpg")
    burst = by_tier["similar"]
    assert burst["keep"]["path"] == str(indexed / BURST[0])


def test_the_largest_resolution_wins_over_age(run: Run, indexed: Path, tmp_path: Path) -> None:
    from picscribe.duplicates import suggest_keep
    from picscribe.store import LibraryFile

    small_old = LibraryFile("/a/small.jpg", "h1", 10, 1, 320, 211, None, None, None)
    big_new = LibraryFile("/a/a/much/longer/path/big.jpg", "h2", 20, 2, 640, 422, None, None, None)
    keep, why = suggest_keep([small_old, big_new])
    assert keep is big_new and why.startswith("largest resolution (640x422")
    twin = LibraryFile("/a/b.jpg", "h3", 20, 2, 640, 422, None, None, None)
    assert suggest_keep([big_new, twin]) == (twin, "same resolution and age; shortest path")


def test_folder_limits_the_listing_and_nothing_is_deleted(run: Run, indexed: Path) -> None:
    before = sorted(p for p in indexed.rglob("*"))
    groups = _groups(run, "--folder", str(indexed / "cake"))
    # The backup copy is outside the folder: no exact group is left, the same-picture group loses it.
    assert [(g["tier"], _members(g, indexed)) for g in groups] == [
        ("same", set(SAME_PICTURE) - {"backup/copy of original.jpg"})
    ]
    result = run("duplicates", "--folder", str(indexed / "cake"))
    assert result.exit_code == 0
    assert "keep  " + str(indexed / "cake" / "original.jpg") in result.stdout
    assert "nothing was deleted or moved" in result.stdout
    assert sorted(p for p in indexed.rglob("*")) == before


def test_search_collapses_copies_into_the_best_scoring_card(indexed: Path, home: Path) -> None:
    same = {str(indexed / p) for p in SAME_PICTURE}
    burst = {str(indexed / p) for p in BURST}
    with Library.open(home, read_only=True) as lib:
        every = lib.search("a picture with a cake at a table", limit=100, collapse=False)
        cards = lib.search("a picture with a cake at a table", limit=100)
    assert len(every) == 22 and {h.path for h in every} >= same
    # What collapsing must give: the uncollapsed ranking with every later copy of a picture
    # folded into the first (best-scoring) one, and nothing else changed.
    picture = {p: "cake" for p in same}
    expected: list[tuple[str, float, str]] = []
    copies: dict[str, list[str]] = {}
    for hit in every:
        key = picture.get(hit.path, hit.path)
        if key in copies:
            copies[key].append(hit.path)
        else:
            copies[key] = []
            expected.append((hit.path, hit.score, key))
    assert [(h.path, h.score) for h in cards] == [(path, score) for path, score, _ in expected]
    assert [list(h.copies) for h in cards] == [copies[key] for _, _, key in expected]
    card = next(h for h in cards if h.path in same)
    assert {card.path, *card.copies} == same
    # Burst shots are similar, not copies: each keeps its card.
    assert burst <= {h.path for h in cards}


def test_search_json_lists_copies_and_no_collapse_lists_every_file(run: Run, indexed: Path) -> None:
    hits = json.loads(run("search", "cake", "--json", "-k", "50").stdout)
    folded = [h for h in hits if h["copies"]]
    assert len(folded) == 1 and len(folded[0]["copies"]) == len(SAME_PICTURE) - 1
    every = json.loads(run("search", "cake", "--json", "-k", "50", "--no-collapse").stdout)
    assert len(every) == len(hits) + len(SAME_PICTURE) - 1
    assert all(h["copies"] == [] for h in every)


def test_an_index_from_before_picture_hashes_is_filled_once_and_resumably(
    run: Run, indexed: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with closing(sqlite3.connect(home / DB_NAME)) as conn:
        contents = conn.execute("SELECT count(DISTINCT content_hash) FROM images WHERE status = 'ok'").fetchone()[0]
        conn.execute("DELETE FROM picture_hashes")  # what migration 7 leaves an older index with
        conn.commit()
    # A run stopped after its first batch keeps that batch.
    monkeypatch.setattr(picture_hash_fill, "FILL_BATCH", 4)
    decoded: list[str] = []
    real_load = picture_hash_fill.load

    def counting_load(entry, *args, **kwargs):
        decoded.append(entry.path)
        return real_load(entry, *args, **kwargs)

    monkeypatch.setattr(picture_hash_fill, "load", counting_load)
    calls = 0

    def stop_after_first_batch(done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        raise KeyboardInterrupt

    with Library.open(home) as lib, pytest.raises(KeyboardInterrupt):
        lib.fill_picture_hashes(stop_after_first_batch)
    with Library.open(home) as lib:
        assert len(lib.store.picture_hashes()) == 4
        assert len(lib.store.contents_without_picture_hash()) == contents - 4
    decoded.clear()
    # The command finishes the job, decoding only what is still missing, once each.
    assert [_members(g, indexed) for g in _groups(run, "--tier", "same")] == EXPECTED["same"]
    assert len(decoded) == len(set(decoded)) == contents - 4
    decoded.clear()
    _groups(run, "--tier", "same")
    assert decoded == []
