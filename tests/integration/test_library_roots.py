"""The library's roots: recorded by `index` and `watch`, kept in the index, and
the only folders the UI serves from. A folder symlink out of them is not indexed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from support.cli import Run, index_json
from support.watching import StartWatcher, eventually, rows

from picscribe.config import load_config
from picscribe.indexer import FakeCaptioner, Indexer, IndexOptions
from picscribe.indexer.scan import scan
from picscribe.search import SentenceTransformerEmbedder
from picscribe.store import Store
from picscribe.ui.services import Services
from picscribe.ui.settings import UiSettings

OUTSIDE = "symlinked folder leads outside the folders being indexed; not indexed"


def _photo(path: Path, rgb: tuple[int, int, int] = (200, 40, 40)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 24), rgb).save(path)
    return path


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    _photo(root / "a" / "red.png")
    _photo(root / "b" / "blue.png", (40, 70, 200))
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder the user never added to the library."""
    folder = tmp_path / "private"
    _photo(folder / "secret.png", (90, 90, 90))
    return folder


# -- recorded, persisted, derived ------------------------------------------------


def test_index_records_its_roots_and_they_persist(run: Run, library: Path, tmp_path: Path, home: Path) -> None:
    assert index_json(run, str(library / "a"))[0] == 0
    other = tmp_path / "other"
    _photo(other / "green.png", (40, 160, 60))
    assert index_json(run, str(library), str(other))[0] == 0
    with Store.open(home, create=False) as store:
        # The outermost folders only: library/a is inside library.
        assert store.library_roots() == (str(library), str(other))
    with sqlite3.connect(home / "index.sqlite") as db:
        (value,) = db.execute("SELECT value FROM meta WHERE key = 'library_roots'").fetchone()
    assert json.loads(value) == [str(library), str(other)]


def test_watch_records_its_roots(library: Path, home: Path, tmp_path: Path) -> None:
    log = tmp_path / "watch.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "picscribe", "watch", str(library / "b"), "--captioner", "fake"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        eventually(lambda: "watching" in log.read_text(), "watcher started", timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    with Store.open(home, create=False) as store:
        assert store.library_roots() == (str(library / "b"),)


def test_an_index_without_recorded_roots_derives_them_until_one_is_added(
    run: Run, library: Path, tmp_path: Path, home: Path
) -> None:
    assert index_json(run, str(library))[0] == 0
    with sqlite3.connect(home / "index.sqlite") as db:  # as an index made before roots were recorded
        db.execute("DELETE FROM meta WHERE key = 'library_roots'")
    with Store.open(home, create=False) as store:
        assert store.library_roots() == (str(library / "a"), str(library / "b"))
        store.add_library_roots([str(tmp_path / "more")])
    with Store.open(home, create=False) as store:
        assert store.library_roots() == (str(library / "a"), str(library / "b"), str(tmp_path / "more"))


# -- the UI serves only inside the roots -------------------------------------------


def test_an_indexed_image_outside_the_roots_is_not_served(
    run: Run, library: Path, outside: Path, home: Path, model_cache: Path
) -> None:
    assert index_json(run, str(library))[0] == 0
    # Written the way the old Status form did: indexed, but never made a root by the user.
    with Store.open(home) as store:
        embedder = SentenceTransformerEmbedder(cache_dir=model_cache / "models")
        Indexer(store, FakeCaptioner(), embedder, IndexOptions()).index([outside])
        assert str(outside / "secret.png") in store.ok_paths()
    services = Services.open(UiSettings.from_env())
    try:
        assert services.servable(str(outside / "secret.png")) is None
        assert services.servable(str(library / "a" / "red.png")) == str(library / "a" / "red.png")
    finally:
        services.close()


def test_config_roots_are_served_too(
    run: Run, library: Path, outside: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert index_json(run, str(library), str(outside))[0] == 0
    with sqlite3.connect(home / "index.sqlite") as db:  # the index knows only the library as a root
        db.execute("UPDATE meta SET value = ? WHERE key = 'library_roots'", (json.dumps([str(library)]),))
    secret = str(outside / "secret.png")
    services = Services.open(UiSettings.from_env())
    try:
        assert services.servable(secret) is None
    finally:
        services.close()
    (home / "config.toml").write_text(f"roots = {json.dumps([str(outside)])}\n")
    services = Services.open(UiSettings.from_env())
    try:
        assert services.servable(secret) == secret
    finally:
        services.close()


def test_ui_command_hands_over_config_roots_and_allows_indexing_anywhere_only_when_asked(
    run: Run, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text('roots = ["/srv/photos", "~/Pictures"]\n')
    started: list[dict[str, str]] = []
    monkeypatch.setattr(os, "execve", lambda path, args, env: started.append(env))
    monkeypatch.setenv("PICSCRIBE_UI_ALLOW_INDEX_ANYWHERE", "1")  # left in the shell: must not count
    assert run("ui").exit_code == 0
    assert run("ui", "--allow-index-anywhere").exit_code == 0
    plain, anywhere = started
    assert plain["PICSCRIBE_HOME"] == str(home)  # where the UI reads config.toml, roots and all
    assert plain["PICSCRIBE_UI_ALLOW_INDEX_ANYWHERE"] == "" and anywhere["PICSCRIBE_UI_ALLOW_INDEX_ANYWHERE"] == "1"
    monkeypatch.setattr(os, "environ", {**os.environ, **plain})
    assert not UiSettings.from_env().allow_index_anywhere
    assert UiSettings.from_env().roots == ("/srv/photos", os.path.expanduser("~/Pictures"))
    assert UiSettings.from_env().config == load_config(home)  # every setting, not only the roots


def test_config_roots_must_be_a_list(run: Run, home: Path) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text('roots = "/srv/photos"\n')
    result = run("status")
    assert result.exit_code != 0 and "roots must be a list" in result.stderr


# -- a folder symlink out of the roots is not indexed --------------------------------


def test_scan_refuses_a_folder_symlink_out_of_the_roots_and_follows_one_inside(library: Path, outside: Path) -> None:
    (library / "a" / "out").symlink_to(outside, target_is_directory=True)
    (library / "a" / "to-b").symlink_to(library / "b", target_is_directory=True)
    found = scan([library])
    paths = {e.path for e in found.files}
    assert str(library / "a" / "out" / "secret.png") not in paths
    assert str(library / "a" / "red.png") in paths
    assert (str(library / "a" / "out"), OUTSIDE) in found.errors
    # Inside the library it is followed (the loop check keeps b from being listed twice).
    assert not [p for p, _ in found.errors if "to-b" in p]
    # Named as a root of its own, with the library as the limit (what a watcher does).
    named = scan([library / "a" / "out"], within=[library])
    assert named.files == [] and named.errors == [(str(library / "a" / "out"), OUTSIDE)]


def test_index_reports_a_folder_symlink_out_of_the_library_and_serves_nothing_from_it(
    run: Run, library: Path, outside: Path, home: Path
) -> None:
    (library / "b" / "out").symlink_to(outside, target_is_directory=True)
    code, report = index_json(run, str(library))
    assert code == 1
    assert {"path": str(library / "b" / "out"), "error": OUTSIDE} in report["failures"]
    with Store.open(home, create=False) as store:
        assert not [p for p in store.ok_paths() if "secret" in p]
    services = Services.open(UiSettings.from_env())
    try:
        assert services.servable(str(library / "b" / "out" / "secret.png")) is None
    finally:
        services.close()


def test_a_watcher_does_not_index_a_folder_symlink_out_of_the_library(
    start_watcher: StartWatcher,
    library: Path,
    home: Path,
    outside: Path,  # noqa: F811
) -> None:
    with Store.open(home) as store:
        store.add_library_roots([str(library)])  # as `picscribe watch` records it
    start_watcher()
    (library / "out").symlink_to(outside, target_is_directory=True)
    _photo(library / "later.png", (10, 200, 10))  # a change after the link: the watcher has seen both
    eventually(lambda: rows(home).get(str(library / "later.png"), (None, None))[1] == "ok" or rows(home), "later.png")
    # However the observer reports it (the link, or a new folder whose files it lists), it is refused.
    refused = {str(library / "out"), str(library / "out" / "secret.png")}
    eventually(lambda: bool(refused & set(rows(home))) or rows(home), "the link reported")
    time.sleep(0.5)
    assert all(status == "failed" for path, (_, status) in rows(home).items() if path in refused)
    with sqlite3.connect(home / "index.sqlite") as db:
        errors = [e for p, e in db.execute("SELECT path, error FROM images") if p in refused]
    assert errors and all("symlinked folder that leads outside" in e or e == OUTSIDE for e in errors)
