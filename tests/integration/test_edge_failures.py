"""Failures at the edges that must be one clear line or a quiet repair, never a
traceback or a hang: a root path that is not UTF-8, a full disk, a vectors
file that cannot be opened, leftover temp files, a model cache shared by two
users, a read-only home, and folders that cannot be listed."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, event
from support.cli import Run
from support.deadline import deadline
from support.paths import REPO, SAMPLES
from support.privileges import unprivileged

import picscribe.store._db as db_module
from picscribe.search.embedder import bundled_model_dir
from picscribe.store import DB_NAME, VECTORS_NAME, CaptionRecord, ImageRecord, Store, StoreError, StoreFull, VectorIndex
from picscribe.store._temp_files import STALE_TEMP_SECONDS

SAMPLE_FILES = sorted(SAMPLES.glob("*.jpg"))
DIM = 8


# -- helpers -------------------------------------------------------------------------


def _copy_photos(folder: Path, count: int, start: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for src in SAMPLE_FILES[start : start + count]:
        shutil.copy2(src, folder / src.name)
        out.append(folder / src.name)
    return out


def _status(run: Run, *home: str) -> dict:
    result = run(*home, "status", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _search_paths(run: Run, *home: str) -> list[str]:
    result = run(*home, "search", "picture", "--json", "-k", "100")
    assert result.exit_code == 0, result.output
    return sorted(hit["path"] for hit in json.loads(result.stdout))


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def _small_store(home: Path, count: int = 12) -> None:
    with Store.open(home) as store:
        store.bind_embedder("test-embedder", DIM)
        store.ensure_active_captioner("fake", "fake-1")
        store.write_batch(
            images=[ImageRecord(f"/photos/{i}.jpg", 100, 1, f"h{i}", 4, 3, "JPEG", None) for i in range(count)],
            captions=[
                CaptionRecord(f"h{i}", "fake", "fake-1", "caption", f"photo {i}", _unit(i)) for i in range(count)
            ],
        )
        store.vector_index()


# -- 6: a root path that is not UTF-8 --------------------------------------------------------------


@pytest.fixture
def latin1_root(tmp_path: Path) -> Path:
    folder = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9"))
    _copy_photos(folder, 2)
    return folder


def test_index_of_a_root_that_is_not_utf8_is_one_clear_error(run: Run, latin1_root: Path) -> None:
    result = run("index", str(latin1_root), "--captioner", "fake")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "caf\\xe9: the path is not valid UTF-8" in result.output


def test_watch_of_a_root_that_is_not_utf8_is_one_clear_error(run: Run, latin1_root: Path) -> None:
    with deadline(60):
        result = run("watch", str(latin1_root), "--captioner", "fake")
    assert result.exit_code == 2, result.output
    assert "caf\\xe9: the path is not valid UTF-8" in result.output


# -- 6: disk full --------------------------------------------------------------------------------


def test_disk_full_is_one_clear_line_and_a_rerun_continues(
    run: Run, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real SQLITE_FULL: every connection is capped at the database's size
    when the run starts (PRAGMA max_page_count), so the first batch that
    needs a new page fails exactly as it would on a full disk."""
    folder = tmp_path / "lib"
    first = _copy_photos(folder, 3)
    assert run("index", str(folder), "--captioner", "fake").exit_code == 0
    _copy_photos(folder, 6, start=3)

    real_make_engine = db_module.make_engine

    def capped_engine(db_path: Path, *, read_only: bool = False) -> Engine:
        engine = real_make_engine(db_path, read_only=read_only)

        @event.listens_for(engine, "connect")
        def _cap(dbapi_conn, _record) -> None:
            (pages,) = dbapi_conn.execute("PRAGMA page_count").fetchone()
            dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

        return engine

    monkeypatch.setattr(db_module, "make_engine", capped_engine)
    full = run("index", str(folder), "--captioner", "fake")
    assert full.exit_code == 1, full.output
    assert "Traceback" not in full.output
    assert "the disk is full" in full.stderr and "run the same command again to continue" in full.stderr
    with closing(sqlite3.connect(home / DB_NAME)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    monkeypatch.setattr(db_module, "make_engine", real_make_engine)
    again = run("index", str(folder), "--captioner", "fake")
    assert again.exit_code == 0, again.output
    assert _status(run)["ok"] == 9
    assert set(map(str, first)) <= set(_search_paths(run))
    assert len(_search_paths(run)) == 9


def test_store_raises_store_full_not_a_raw_operational_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "idx"
    _small_store(home, 2)
    with Store.open(home) as store:
        with store._db.engine.connect() as conn:  # the pooled connection every later write reuses
            conn.exec_driver_sql("PRAGMA max_page_count = 1")
        with pytest.raises(StoreFull, match="the disk is full"):
            store.write_batch(
                images=[ImageRecord(f"/more/{i}.jpg", 100, 1, f"m{i}", 4, 3, "JPEG", "x" * 2000) for i in range(50)]
            )
        assert store.status().images == 2


# -- 6: a vectors file that cannot be opened is a cache: rebuild it -------------------------------


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_vectors_path_that_is_not_a_file_is_moved_aside_and_rebuilt(tmp_path: Path, kind: str) -> None:
    home = tmp_path / "idx"
    _small_store(home)
    vectors = home / VECTORS_NAME
    vectors.unlink()
    if kind == "directory":
        vectors.mkdir()
        (vectors / "something.txt").write_text("kept, not deleted")
    else:
        os.mkfifo(vectors)
    with deadline(30), Store.open(home) as store:
        assert len(store.vector_index()) == 12
    assert vectors.is_file()
    _, header = VectorIndex.load(vectors)
    assert header.count == 12
    aside = list(home.glob(f"{VECTORS_NAME}.unusable-*"))
    assert len(aside) == 1
    if kind == "directory":
        assert (aside[0] / "something.txt").read_text() == "kept, not deleted"


def test_unreadable_vectors_file_is_rebuilt(shared_tmp: Path) -> None:
    home = shared_tmp / "idx"
    _small_store(home)
    for p in home.iterdir():
        p.chmod(0o666)
    home.chmod(0o777)
    (home / VECTORS_NAME).chmod(0)
    with unprivileged(), deadline(30):
        if os.access(home / VECTORS_NAME, os.R_OK, effective_ids=True):  # pragma: no cover
            pytest.skip("file permissions are not enforced for this user")
        with Store.open(home) as store:
            assert len(store.vector_index()) == 12
    _, header = VectorIndex.load(home / VECTORS_NAME)
    assert header.count == 12


# -- 7: leftovers and permissions ----------------------------------------------------------------


def test_temp_files_of_killed_saves_are_removed_on_open_and_a_live_one_kept(tmp_path: Path) -> None:
    home = tmp_path / "idx"
    _small_store(home)
    vectors = home / VECTORS_NAME
    # A real save killed between writing its temp file and renaming it into place.
    saver = textwrap.dedent(
        f"""
        import os, time
        import numpy as np
        from picscribe.store import VectorIndex
        from picscribe.store._vector_index import IndexHeader, IndexSpec
        def stuck(*args):
            print("stuck", flush=True)
            time.sleep(600)
        os.replace = stuck
        vi = VectorIndex.build({DIM}, np.arange(3, dtype=np.int64), np.eye(3, {DIM}, dtype=np.float32))
        vi.save(__import__("pathlib").Path({str(vectors)!r}), IndexHeader(1, 3, {DIM}, "e", IndexSpec()))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", saver], cwd=REPO, stdout=subprocess.PIPE, text=True)
    with deadline(60):
        assert proc.stdout is not None and proc.stdout.readline() == "stuck\n"
    proc.kill()
    proc.wait()
    proc.stdout.close()
    killed = list(home.glob(f"{VECTORS_NAME}.{proc.pid}.*.tmp"))
    assert len(killed) == 1 and killed[0].stat().st_size > 0
    # A save in progress in a live process (this one), and an old-style name from before pids were used.
    live = home / f"{VECTORS_NAME}.{os.getpid()}.abc123.tmp"
    live.write_bytes(b"being written")
    legacy_old = home / f"{VECTORS_NAME}.k2j3h4.tmp"
    legacy_old.write_bytes(b"old")
    an_hour_ago = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(legacy_old, (an_hour_ago, an_hour_ago))
    legacy_new = home / f"{VECTORS_NAME}.q8w7e6.tmp"
    legacy_new.write_bytes(b"maybe being written")

    Store.open(home).close()

    assert not killed[0].exists()
    assert not legacy_old.exists()
    assert live.exists() and legacy_new.exists()
    assert vectors.is_file()


def test_vectors_file_is_as_readable_as_the_database(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        home = tmp_path / "idx"
        _small_store(home)
    finally:
        os.umask(old)
    assert (home / VECTORS_NAME).stat().st_mode & 0o777 == 0o644


def test_model_cache_is_usable_by_a_second_user(shared_tmp: Path) -> None:
    cache = shared_tmp / "cache"
    old = os.umask(0o022)
    try:
        target = bundled_model_dir(cache)
    finally:
        os.umask(old)
    if target is None:  # pragma: no cover
        pytest.skip("the bundled embedding model package is not installed")
    assert target.stat().st_mode & 0o777 == 0o755
    assert not list(cache.glob(".unzip-*"))
    with unprivileged():
        assert os.access(target / "modules.json", os.R_OK, effective_ids=True)
        # The second user finds the first one's copy and unpacks nothing.
        assert bundled_model_dir(cache) == target


def test_a_model_cache_the_second_user_cannot_write_is_a_clear_error(shared_tmp: Path) -> None:
    from picscribe.search import EmbedderUnavailable

    cache = shared_tmp / "cache"
    cache.mkdir(mode=0o755)
    with unprivileged():
        if os.access(cache, os.W_OK, effective_ids=True):  # pragma: no cover
            pytest.skip("file permissions are not enforced for this user")
        with pytest.raises(EmbedderUnavailable, match="set PICSCRIBE_CACHE to a folder you can write"):
            bundled_model_dir(cache)


def _warm_up(run: Run, tmp_path: Path) -> None:
    """Load the embedding model and every lazily imported module as root:
    nobody cannot read the session's model cache, nor Python under /root."""
    folder = tmp_path / "warm-up"
    _copy_photos(folder, 1, start=7)
    warm_home = str(tmp_path / "warm-up-home")
    assert run("--home", warm_home, "index", str(folder), "--captioner", "fake").exit_code == 0
    _search_paths(run, "--home", warm_home)
    _status(run, "--home", warm_home)


def _listing(home: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in home.iterdir()}


def test_status_and_search_work_on_a_read_only_home(
    run: Run, shared_tmp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _warm_up(run, tmp_path)
    home = shared_tmp / "home"
    monkeypatch.setenv("PICSCRIBE_HOME", str(home))
    photos = _copy_photos(shared_tmp / "lib", 3)
    assert run("index", str(shared_tmp / "lib"), "--captioner", "fake").exit_code == 0
    expected = _search_paths(run)  # also writes the FAISS cache
    assert expected == sorted(map(str, photos))
    (home / VECTORS_NAME).unlink()  # a stale cache: search must rebuild it in memory, not write it
    home.chmod(0o555)
    before = _listing(home)
    with unprivileged():
        if os.access(home, os.W_OK, effective_ids=True):  # pragma: no cover
            pytest.skip("file permissions are not enforced for this user")
        status = run("status", "--json")
        searched = run("search", "picture", "--json", "-k", "100")
        human = run("status")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["ok"] == 3
    assert searched.exit_code == 0, searched.output
    assert sorted(hit["path"] for hit in json.loads(searched.stdout)) == expected
    assert human.exit_code == 0, human.output
    assert _listing(home) == before


def test_read_only_store_takes_no_write_lock(tmp_path: Path) -> None:
    """A reader opened read-only does not wait behind a writer holding the lock."""
    home = tmp_path / "idx"
    _small_store(home)
    with closing(sqlite3.connect(home / DB_NAME, isolation_level=None)) as writer:
        writer.execute("BEGIN IMMEDIATE")
        with deadline(10), Store.open(home, create=False, read_only=True) as store:
            assert store.read_only
            assert store.status().images == 12
            assert len(store.vector_index()) == 12
            with pytest.raises(StoreError, match="opened read-only"):
                store.set_active_captioner("other", "other-1")
        writer.execute("ROLLBACK")


def test_reading_leaves_the_home_as_it_found_it(tmp_path: Path) -> None:
    """No -wal or -shm left behind by a reader, no file touched (the eval and
    backup scripts compare the home before and after)."""
    home = tmp_path / "idx"
    _small_store(home)
    before = _listing(home)
    assert set(before) == {DB_NAME, VECTORS_NAME}
    with Store.open(home, create=False, read_only=True) as store:
        assert store.status().searchable == 12
        assert len(store.vector_index()) == 12
    assert _listing(home) == before


# -- 9: folders that cannot be listed show in status ----------------------------------------------


def test_unreadable_folder_shows_in_status_until_it_can_be_listed(
    run: Run, shared_tmp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _warm_up(run, tmp_path)
    folder = shared_tmp / "photos"
    _copy_photos(folder, 2)
    private = folder / "private"
    _copy_photos(private, 1, start=2)
    other = shared_tmp / "other"
    _copy_photos(other / "locked", 1, start=3)
    for p in [folder, private, other, other / "locked"]:
        p.chmod(0o777)
    private.chmod(0)
    (other / "locked").chmod(0)
    home = shared_tmp / "home"
    home.mkdir(mode=0o777)
    home.chmod(0o777)
    monkeypatch.setenv("PICSCRIBE_HOME", str(home))
    with unprivileged():
        if os.access(private, os.R_OK, effective_ids=True):  # pragma: no cover
            pytest.skip("file permissions are not enforced for this user")
        assert run("index", str(folder), "--captioner", "fake").exit_code == 1
        assert run("index", str(other), "--captioner", "fake").exit_code == 1

    unreadable = _status(run)["unreadable_folders"]
    assert [u["path"] for u in unreadable] == [str(other / "locked"), str(private)]
    assert all("Permission denied" in u["error"] for u in unreadable)
    human = run("status")
    assert "unreadable folders" in human.stdout and f"  {private}: cannot read folder" in human.stdout

    # Listed again, the folder leaves the list; the other root's entry stays.
    private.chmod(0o777)
    assert run("index", str(folder), "--captioner", "fake").exit_code == 0
    assert [u["path"] for u in _status(run)["unreadable_folders"]] == [str(other / "locked")]


def test_watcher_state_with_a_name_that_is_not_utf8_saves_and_reads_back(tmp_path: Path) -> None:
    """The CLI refuses such a root; the state file must not crash on one anyway
    (a library caller, or an error message naming such a file)."""
    from picscribe.indexer.watch._state import StateFile, watcher_state

    root = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9")
    state = StateFile(tmp_path)
    state.start([root])
    state.values["last_error"] = f"{root}/x.jpg: cannot read"
    state.save()
    read_back = watcher_state(tmp_path)
    assert read_back is not None and read_back.roots == (root,)
    assert read_back.last_error == f"{root}/x.jpg: cannot read"
