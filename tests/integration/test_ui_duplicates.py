"""The web UI's Duplicates page, run by Streamlit's AppTest on the generated
library of tests/support/duplicate_library.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support.duplicate_library import EXACT, SAME_PICTURE, build

from picscribe import Library
from picscribe.ui import APP_PATH

TIMEOUT = 120


@pytest.fixture(scope="module")
def _indexed(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> tuple[Path, Path]:
    photos = build(tmp_path_factory.mktemp("ui-dups"))
    home = tmp_path_factory.mktemp("ui-dups-index") / "home"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PICSCRIBE_CACHE", str(model_cache))
        env.setenv("HF_HUB_OFFLINE", "1")
        with Library.open(home, captioner="fake") as lib:
            assert not lib.index([photos]).failures
    return home, photos


@pytest.fixture
def indexed(_indexed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    home, photos = _indexed
    monkeypatch.setenv("PICSCRIBE_HOME", str(home))
    return photos


def _page() -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT)
    at.query_params["view"] = "duplicates"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_groups_show_the_keep_suggestion_and_the_others_paths_to_copy(indexed: Path) -> None:
    at = _page()
    # Exact copies first: the original and its byte-identical backup.
    assert at.caption[0].value.startswith("1 groups")
    assert f"**Keep** `{indexed / EXACT[0]}`".replace(".", "\\.").replace("-", "\\-") in at.markdown[0].value
    assert "oldest" in at.markdown[0].value
    assert at.code[0].value == str(indexed / EXACT[1])
    assert [img.proto.imgs[0].alt for img in at.get("image")] == ["original.jpg: keep", "copy of original.jpg: copy"]


def test_the_tier_filter_shows_the_same_picture_group(indexed: Path) -> None:
    at = _page()
    at.radio(key="dup-tier").set_value("same").run()
    assert not at.exception
    others = at.code[0].value.splitlines()
    assert sorted(others) == sorted(str(indexed / p) for p in SAME_PICTURE if p != "cake/original.jpg")
    # One row of thumbnails; the rest of a big group is listed by path.
    assert len(at.get("image")) == 6
    at.radio(key="dup-tier").set_value("similar").run()
    assert len(at.code[0].value.splitlines()) == 2
