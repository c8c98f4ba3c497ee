"""What a newcomer types into `search`: dates, folders, object names, empty
queries and queries nothing matches (issue 22, items 1, 8 and 10)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.cli import Run, index_json

from picscribe.indexer.object_labels import resolve_object_label
from picscribe.search import SentenceTransformerEmbedder
from picscribe.search.weak_match import WEAK_MATCH_SCORES
from picscribe.store import CaptionRecord, Store


@pytest.fixture
def dated(tmp_path: Path, run: Run) -> Path:
    """Three indexed solid-colour photos with file times in 2017, 2019-06 and 2020."""
    root = tmp_path / "dated"
    root.mkdir()
    rng = np.random.default_rng(22)
    for name, rgb, when in [
        ("red.png", (200, 40, 40), 1_500_000_000),  # 2017-07-14
        ("blue.png", (40, 70, 200), 1_560_000_000),  # 2019-06-08
        ("green.png", (40, 160, 60), 1_600_000_000),  # 2020-09-13
    ]:
        # Noise around each colour: flat images would all look like copies of one picture.
        pixels = np.clip(np.array(rgb) + rng.integers(-40, 40, size=(64, 64, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / name)
        os.utime(root / name, (when, when))
    assert index_json(run, str(root))[0] == 0
    return root


def _names(run: Run, *args: str) -> list[str]:
    result = run("search", *args, "--json", "-k", "10")
    assert result.exit_code == 0, result.stderr
    return [Path(h["path"]).name for h in json.loads(result.stdout)]


# -- item 10: filters and queries ------------------------------------------------------


def test_a_bare_year_or_month_is_a_date(run: Run, dated: Path) -> None:
    assert _names(run, "picture", "--from", "2019", "--to", "2019") == ["blue.png"]
    assert _names(run, "picture", "--from", "2019-06", "--to", "2019-06") == ["blue.png"]
    assert set(_names(run, "picture", "--from", "2019")) == {"blue.png", "green.png"}
    assert set(_names(run, "picture", "--to", "2019")) == {"red.png", "blue.png"}


def test_from_later_than_to_is_a_usage_error(run: Run, dated: Path) -> None:
    result = run("search", "picture", "--from", "2020-01-01", "--to", "2019-12-31")
    assert result.exit_code == 2
    assert "--from 2020-01-01 is later than --to 2019-12-31" in result.stderr


@pytest.mark.parametrize("query", ["", "   "])
def test_an_empty_query_is_a_usage_error(run: Run, dated: Path, query: str) -> None:
    result = run("search", query)
    assert result.exit_code == 2 and "the query is empty" in result.stderr


def test_a_folder_that_does_not_exist_warns(run: Run, dated: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    result = run("search", "picture", "--folder", str(missing), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []
    assert f"--folder {missing} does not exist" in result.stderr
    # An existing folder says nothing.
    assert "Warning" not in run("search", "picture", "--folder", str(dated), "--json").stderr


# -- item 1: no signal when nothing matches --------------------------------------------


def test_the_default_embedder_has_a_calibrated_threshold() -> None:
    # 0 would mark nothing weak; the calibration is in search/weak_match.py.
    assert 0.2 < WEAK_MATCH_SCORES["sentence-transformers/all-MiniLM-L6-v2"] < 0.6


def test_a_query_in_another_language_gives_only_weak_hits(run: Run, dated: Path) -> None:
    for query in ["ein Hund am Strand", "海滩上的狗", "🐶🏖️"]:
        result = run("search", query, "--json")
        assert result.exit_code == 0, result.stderr
        hits = json.loads(result.stdout)
        assert hits and all(h["weak"] is True for h in hits), (query, hits)
        human = run("search", query)
        assert human.stdout.startswith(f"No good matches for {query!r}; the closest are:"), human.stdout
        assert "(weak match)" in human.stdout


def test_a_good_match_is_not_weak(run: Run, dated: Path) -> None:
    hits = json.loads(run("search", "a square picture that is mostly red", "--json").stdout)
    assert hits[0]["path"].endswith("red.png") and hits[0]["weak"] is False
    human = run("search", "a square picture that is mostly red", "-k", "1")
    assert "No good matches" not in human.stdout and "(weak match)" not in human.stdout


# -- item 8: object labels ---------------------------------------------------------------


@pytest.fixture
def with_objects(dated: Path, home: Path, model_cache: Path) -> Path:
    """The fake captioner detects nothing: record what a detecting one stores
    (everyday words: "table", "plant", "person") on two of the photos."""
    found = {"red.png": (("table", 1, 0.9), ("person", 3, 0.8)), "blue.png": (("plant", 2, 0.7),)}
    with Store.open(home, create=False) as store:
        embedder = SentenceTransformerEmbedder(store.embedder_name or "", cache_dir=model_cache / "models")
        records = []
        for name, objects in found.items():
            detail = store.image_detail(str(dated / name))
            assert detail is not None and detail.current is not None
            text = detail.current.text
            records.append(
                CaptionRecord(
                    content_hash=detail.content_hash or "",
                    captioner="fake",
                    model_id="fake-v1",
                    task="caption",
                    text=text,
                    vector=embedder.embed([text])[0],
                    objects=objects,
                )
            )
        store.write_batch(captions=records)
    return dated


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("dining table", ["red.png"]),
        ("Dining  Table", ["red.png"]),
        ("tables", ["red.png"]),
        ("people", ["red.png"]),
        ("persons", ["red.png"]),
        ("potted plant", ["blue.png"]),
        ("plants", ["blue.png"]),
        ("plant", ["blue.png"]),
    ],
)
def test_coco_names_plurals_and_synonyms_find_the_stored_label(
    run: Run, with_objects: Path, name: str, expected: list[str]
) -> None:
    assert _names(run, "picture", "--object", name) == expected


def test_an_unknown_label_is_a_usage_error_naming_the_known_ones(run: Run, with_objects: Path) -> None:
    result = run("search", "picture", "--object", "giraffe")
    assert result.exit_code == 2
    assert "'giraffe': no photo in this index has it" in result.stderr
    assert "person" in result.stderr and "status --labels" in result.stderr


def test_an_index_without_detections_says_so(run: Run, dated: Path) -> None:
    result = run("search", "picture", "--object", "dog")
    assert result.exit_code == 2 and "this index has no detected objects" in result.stderr


def test_status_lists_the_labels(run: Run, with_objects: Path) -> None:
    result = run("status", "--labels", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"label": "person", "count": 1},
        {"label": "plant", "count": 1},
        {"label": "table", "count": 1},
    ]
    lines = run("status", "--labels").stdout.splitlines()
    assert [line.split()[-1] for line in lines] == ["person", "plant", "table"]


def test_resolution_prefers_an_exact_stored_label() -> None:
    # An index whose captioner stores COCO's own names keeps them.
    assert resolve_object_label("dining table", {"dining table", "table"}) == "dining table"
    assert resolve_object_label("table", {"dining table"}) == "dining table"
    assert resolve_object_label("mice", {"mouse"}) == "mouse"
    assert resolve_object_label("buses", {"bus"}) == "bus"
    assert resolve_object_label("giraffe", {"dog"}) is None
