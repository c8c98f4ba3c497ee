"""``picscribe status`` reads its counts with the stdlib ``sqlite3``
(``store._quick_status``), without SQLAlchemy, numpy or FAISS. It must say
exactly what the store's own read says, on an index with failures, copies, a
moved file and two caption sets, and step aside where it cannot answer."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from support.cli import Run, index_json

from picscribe.cli import status_cmds
from picscribe.store import DB_NAME, SCHEMA_VERSION, Store
from picscribe.store._quick_status import quick_status


def _busy_index(run: Run, photos: Path) -> None:
    """Failures, a copy, a moved file, and captions by two models (the newer one searched)."""
    jpgs = sorted(photos.glob("*.jpg"))
    shutil.copy2(jpgs[0], photos / "copy.jpg")
    (photos / "broken.jpg").write_text("not an image")
    (photos / "empty.jpg").write_bytes(b"")
    assert index_json(run, str(photos))[0] == 1  # the two bad files failed
    (photos / "moved").mkdir()
    jpgs[1].rename(photos / "moved" / jpgs[1].name)
    code, report = index_json(run, str(photos))
    assert code == 0 and report["captioned"] == 0, report  # found by its hash; the failed files are not retried
    assert run("reindex", "--captioner", "fake:v2").exit_code == 0


def _full_path_json(run: Run, monkeypatch: pytest.MonkeyPatch) -> dict:
    """``status --json`` through the Library and SQLAlchemy, the quick read switched off."""
    with monkeypatch.context() as m:
        m.setattr(status_cmds, "quick_status", lambda home: None)
        result = run("status", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_quick_read_says_what_the_store_says(
    run: Run, photos: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _busy_index(run, photos)
    quick = quick_status(home)
    assert quick is not None
    with Store.open(home, read_only=True) as store:
        assert quick == store.status()
    assert (quick.images, quick.ok, quick.failed, quick.copies, quick.searchable) == (9, 7, 2, 1, 6)
    assert sorted(Path(p).name for p, _ in quick.failures) == ["broken.jpg", "empty.jpg"]
    assert quick.captions_by_model == [("fake", "fake-v2", 6)]
    assert quick.stored_models == [("fake", "fake-v1", 6), ("fake", "fake-v2", 6)]

    used = []

    def spy(home: Path) -> object:
        used.append(quick_status(home))
        return used[-1]

    monkeypatch.setattr(status_cmds, "quick_status", spy)
    quick_json = json.loads(run("status", "--json").stdout)
    assert used and used[0] is not None  # the CLI answered from the quick read
    assert quick_json == _full_path_json(run, monkeypatch)
    assert sorted(quick_json) == sorted(
        [
            "home",
            "images",
            "ok",
            "failed",
            "searchable",
            "failures",
            "captions_by_model",
            "active_captioner",
            "active_model",
            "embedder",
            "generation",
            "unreadable_folders",
            "copies",
            "stored_models",
            "watcher",
        ]
    )


def test_the_quick_read_leaves_the_home_as_it_found_it(run: Run, photos: Path, home: Path) -> None:
    assert index_json(run, str(photos))[0] == 0
    before = sorted(p.name for p in home.iterdir())
    assert quick_status(home) is not None
    assert sorted(p.name for p in home.iterdir()) == before  # no -wal or -shm left behind


def test_an_index_the_quick_read_cannot_answer_goes_the_usual_way(run: Run, photos: Path, home: Path) -> None:
    assert quick_status(home) is None  # no index yet
    assert run("status").exit_code == 1

    assert index_json(run, str(photos))[0] == 0
    newer = home.parent / "newer"
    shutil.copytree(home, newer)
    with sqlite3.connect(newer / DB_NAME) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    assert quick_status(newer) is None
    refused = run("--home", str(newer), "status")
    assert refused.exit_code == 1 and "newer than this picscribe understands" in refused.output
