"""The README's demo: the default captioner on the bundled photos finds what
a user would look for. This is the skeleton's end-to-end acceptance test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import Run
from support.paths import SAMPLES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_index(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Path:
    home = tmp_path_factory.mktemp("demo-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("PICSCRIBE_HOME", str(home))
    mp.setenv("PICSCRIBE_CACHE", str(model_cache))
    mp.delenv("PICSCRIBE_CAPTIONER", raising=False)
    mp.delenv("PICSCRIBE_VLM", raising=False)
    from click.testing import CliRunner

    from picscribe.cli import main

    result = CliRunner().invoke(main, ["index", str(SAMPLES), "--json"], catch_exceptions=False)
    mp.undo()
    assert result.exit_code == 0, result.stderr
    assert "captioner: offline" in result.stderr  # auto chose the built-in captioner and said so
    report = json.loads(result.stdout)
    assert report["captioned"] == 26 and report["failed"] == 0
    return home


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("pizza on a plate", "000000121647.jpg"),
        ("a bus on the road", "000000252639.jpg"),
        ("stop sign", "000000525891.jpg"),
    ],
)
def test_demo_query_finds_its_photo_in_the_top_3(
    run: Run,
    demo_index: Path,
    monkeypatch: pytest.MonkeyPatch,
    query: str,
    expected: str,
) -> None:
    monkeypatch.setenv("PICSCRIBE_HOME", str(demo_index))
    result = run("search", query, "--json", "-k", "3")
    assert result.exit_code == 0, result.stderr
    names = [hit["path"].rsplit("/", 1)[-1] for hit in json.loads(result.stdout)]
    assert expected in names, f"{query!r} -> {names}"


def test_every_demo_caption_records_its_model(run: Run, demo_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICSCRIBE_HOME", str(demo_index))
    status = json.loads(run("status", "--json").stdout)
    assert status["searchable"] == 26
    assert status["captions_by_model"] == [
        {"captioner": "offline", "model": "v6:centernet+mtcnn+efficientnet-lite0+rapidocr-1.4.4", "count": 26}
    ]


def test_object_filter_keeps_only_photos_with_that_detection(
    run: Run,
    demo_index: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PICSCRIBE_HOME", str(demo_index))
    hits = json.loads(run("search", "animals", "--json", "-k", "26", "--object", "horse").stdout)
    names = {hit["path"].rsplit("/", 1)[-1] for hit in hits}
    assert "000000078499.jpg" in names  # the five horses on a hill
    assert all(any(o["label"] == "horse" for o in hit["objects"]) for hit in hits)
    assert len(hits) < 26
    both = json.loads(run("search", "animals", "--json", "-k", "26", "--object", "horse", "--object", "pizza").stdout)
    assert both == []


def test_objects_are_a_keyword_field_of_their_own(run: Run, demo_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICSCRIBE_HOME", str(demo_index))
    hits = json.loads(run("search", "horses", "--json", "-k", "1").stdout)
    assert hits[0]["path"].endswith("000000078499.jpg")
    counts = {o["label"]: o["count"] for o in hits[0]["objects"]}
    assert counts.get("horse", 0) >= 2
