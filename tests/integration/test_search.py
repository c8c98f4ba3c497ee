"""The search command's contract (DESIGN.md) and the retrieval pieces behind it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image
from support.cli import Run, index_json

from picscribe.search.fusion import FusionWeights, fuse
from picscribe.search.query import fts_match


@pytest.fixture
def colours(tmp_path: Path) -> Path:
    """Solid-colour images the fake captioner describes predictably."""
    root = tmp_path / "colours"
    for folder, name, rgb, size in [
        ("a", "red.png", (200, 40, 40), (64, 64)),
        ("a", "blue.png", (40, 70, 200), (64, 64)),
        ("b", "green.png", (40, 160, 60), (96, 48)),
        ("b", "yellow.png", (230, 210, 40), (48, 96)),
    ]:
        (root / folder).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, rgb).save(root / folder / name)
    # File times stand in for capture dates (no EXIF in these PNGs).
    os.utime(root / "a" / "red.png", (1_500_000_000, 1_500_000_000))  # 2017-07-14
    os.utime(root / "b" / "green.png", (1_600_000_000, 1_600_000_000))  # 2020-09-13
    return root


def _search(run: Run, *args: str) -> list[dict]:
    result = run("search", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_json_hits_follow_the_contract(run: Run, colours: Path) -> None:
    index_json(run, str(colours))
    hits = _search(run, "a picture that is mostly red", "-k", "3")
    assert len(hits) == 3
    assert hits[0]["path"] == str(colours / "a" / "red.png")
    for hit in hits:
        assert Path(hit["path"]).is_absolute()
        assert isinstance(hit["score"], float) and isinstance(hit["caption"], str) and hit["caption"]
        assert hit["model"] == "fake-v1"
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_stdin_queries_give_one_json_line_each_in_order(run: Run, colours: Path) -> None:
    index_json(run, str(colours))
    result = run("search", "-", "--json", "-k", "1", input="mostly blue\n\nmostly green\n")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    first, empty, last = (json.loads(line) for line in lines)
    assert first[0]["path"].endswith("blue.png")
    assert empty == []
    assert last[0]["path"].endswith("green.png")


def test_folder_filter(run: Run, colours: Path) -> None:
    index_json(run, str(colours))
    hits = _search(run, "mostly red", "--folder", str(colours / "b"))
    assert {Path(h["path"]).name for h in hits} == {"green.png", "yellow.png"}


def test_folder_filter_does_not_match_a_sibling_with_the_same_prefix(run: Run, colours: Path) -> None:
    shutil.copytree(colours / "a", colours / "a2")
    Image.new("RGB", (10, 10), (0, 0, 0)).save(colours / "a2" / "black.png")
    index_json(run, str(colours))
    hits = _search(run, "picture", "--folder", str(colours / "a"))
    assert {Path(h["path"]).parent.name for h in hits} == {"a"}


def test_date_filters_use_file_time_without_exif(run: Run, colours: Path) -> None:
    index_json(run, str(colours))
    hits = _search(run, "picture", "--from", "2017-07-01", "--to", "2017-07-31")
    assert [Path(h["path"]).name for h in hits] == ["red.png"]
    hits = _search(run, "picture", "--to", "2020-09-13")
    assert {Path(h["path"]).name for h in hits} == {"red.png", "green.png"}


def test_bad_date_is_a_usage_error(run: Run, colours: Path) -> None:
    index_json(run, str(colours))
    result = run("search", "x", "--from", "last tuesday")
    assert result.exit_code == 2 and "--from" in result.stderr


def test_min_score_drops_weak_hits(run: Run, colours: Path) -> None:
    index_json(run, str(colours))
    all_hits = _search(run, "mostly red", "-k", "10")
    cut = (all_hits[0]["score"] + all_hits[1]["score"]) / 2
    kept = _search(run, "mostly red", "--min-score", str(cut))
    assert [h["path"] for h in kept] == [all_hits[0]["path"]]


def test_keyword_evidence_lifts_an_exact_word_match() -> None:
    dense = {1: 0.50, 2: 0.48}
    fused = fuse(dense, {2: 3.0}, FusionWeights(dense=0.8, keyword=0.2))
    assert fused[2] > fused[1]
    # ...but dense dominates: a keyword-only hit with poor similarity stays below.
    fused = fuse({1: 0.60, 3: 0.05}, {3: 3.0}, FusionWeights(dense=0.8, keyword=0.2))
    assert fused[1] > fused[3]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("pizza on a plate", '"pizza" OR "plate"'),
        ('"unbalanced AND (NEAR', '"unbalanced" OR "near"'),
        ("the a of", ""),
        ("Stop STOP stop", '"stop"'),
    ],
)
def test_fts_match_is_safe_and_deduplicated(query: str, expected: str) -> None:
    assert fts_match(query) == expected


def test_search_with_fts_syntax_does_not_crash(run: Run, colours: Path) -> None:
    index_json(run, str(colours))
    result = run("search", 'red" OR NEAR(* AND', "--json")
    assert result.exit_code == 0, result.stderr
    assert isinstance(json.loads(result.stdout), list)
