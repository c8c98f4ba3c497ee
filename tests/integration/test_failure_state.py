"""A failure belongs to its cause, and a move is one transaction.

- A file that "disappeared" while being read (its folder was renamed) is read
  again where it turns up; a move never carries a failure to the new path.
- A failure by one captioner is not a verdict for another; a decode failure is
  tried again once the decoders change (pillow-heif installed).
- The old path of moved content goes in the transaction that writes the new
  one, so a kill between the two cannot leave one file with two rows.

Real SQLite, the real pipeline, the FakeCaptioner; the watcher test runs a
real watchdog observer on temporary folders.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cli import Run, index_json
from support.paths import SAMPLES
from support.watching import eventually, jpeg_bytes, matches_disk, rows

import picscribe.indexer.pipeline as pipeline
from picscribe.indexer import FakeCaptioner, Indexer, IndexOptions
from picscribe.indexer.failure_keys import decoder_key
from picscribe.indexer.watch import BatchReport, Watcher, WatchOptions
from picscribe.search import SentenceTransformerEmbedder
from picscribe.store import FailureRecord, Store

DISAPPEARED = "file disappeared before it could be read"


@pytest.fixture
def embedder(model_cache: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(cache_dir=model_cache / "models")


def _indexer(store: Store, embedder: SentenceTransformerEmbedder, **options: Any) -> Indexer:
    return Indexer(store, FakeCaptioner(), embedder, IndexOptions(**options))


def _db_rows(home: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(home / "index.sqlite") as db:
        return db.execute(sql, params).fetchall()


def _album(root: Path, n: int) -> Path:
    album = root / "A"
    album.mkdir(parents=True)
    for i in range(n):
        (album / f"{i:02d}.jpg").write_bytes(jpeg_bytes(i))
    return album


def _rename_folder_during_first_read(monkeypatch: pytest.MonkeyPatch, src: Path, dest: Path) -> None:
    """The first file read renames its folder first: every read still to come
    fails as "disappeared", as when a user renames a folder mid-run."""
    real_load = pipeline.load
    lock = threading.Lock()

    def load(entry, *args, **kwargs):
        with lock:
            if src.exists():
                src.rename(dest)
        return real_load(entry, *args, **kwargs)

    monkeypatch.setattr(pipeline, "load", load)


# -- 1: a folder renamed while it is read ------------------------------------------


def test_move_drops_failed_rows_and_the_files_are_read_again(
    tmp_path: Path, home: Path, embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = tmp_path / "lib"
    album = _album(lib, 12)
    renamed = lib / "B"
    with Store.open(home) as store:
        ok_before = {str(album / "00.jpg")}
        _indexer(store, embedder).index([album / "00.jpg"])  # one file indexed ok before the rename
        _rename_folder_during_first_read(monkeypatch, album, renamed)
        report = _indexer(store, embedder, workers=1).index([album])
        monkeypatch.undo()
        assert {e for _, e in report.failures} == {DISAPPEARED} and len(report.failures) == 11

        # The watcher's half of it: the folder's rename event.
        moved = store.move_paths([(str(album), str(renamed))])
        assert moved == len(ok_before), "only ok rows move"
        assert store.file_states([str(album)]) == {}
        assert set(store.file_states([str(renamed)])) == {str(renamed / "00.jpg")}

        again = _indexer(store, embedder).index([renamed])
    assert again.failures == [] and again.still_failing == []
    assert again.captioned == 11 and again.unchanged == 1
    assert _db_rows(home, "SELECT count(*) FROM images WHERE status != 'ok'") == [(0,)]
    assert {p for (p,) in _db_rows(home, "SELECT path FROM images")} == {str(p) for p in renamed.iterdir()}


def test_a_disappeared_failure_is_retried_when_the_file_is_back(
    tmp_path: Path, home: Path, embedder: SentenceTransformerEmbedder
) -> None:
    """Same size and mtime as the failed row: before, "failed before and unchanged" hid it for good."""
    photo = tmp_path / "back.jpg"
    photo.write_bytes(jpeg_bytes(5))
    st = photo.stat()
    with Store.open(home) as store:
        store.write_batch(failures=[FailureRecord(str(photo), st.st_size, st.st_mtime_ns, DISAPPEARED, None)])
        report = _indexer(store, embedder).index([tmp_path])
    assert report.captioned == 1 and report.failures == [] and report.still_failing == []
    assert rows(home)[str(photo)][1] == "ok"


def test_failed_row_is_not_carried_by_a_file_rename(home: Path, embedder: SentenceTransformerEmbedder) -> None:
    with Store.open(home) as store:
        store.write_batch(failures=[FailureRecord("/p/a.jpg", 10, 1, DISAPPEARED, None)])
        assert store.move_paths([("/p/a.jpg", "/p/b.jpg")]) == 0
        assert store.file_states(["/p"]) == {}


@pytest.fixture
def watch_library(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    root.mkdir()
    return root


@pytest.fixture
def running_watcher(
    home: Path, embedder: SentenceTransformerEmbedder, watch_library: Path
) -> Iterator[tuple[Watcher, list[BatchReport]]]:
    store = Store.open(home)
    indexer = Indexer(store, FakeCaptioner(), embedder, IndexOptions(batch_size=64, workers=2))
    reports: list[BatchReport] = []
    watcher = Watcher(indexer, [watch_library], WatchOptions(debounce=0.3, reconcile_every=0), on_batch=reports.append)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    eventually(lambda: bool(reports) or "no reconciliation yet", "watcher started")
    yield watcher, reports
    watcher.stop()
    thread.join(timeout=30)
    assert not thread.is_alive(), "watcher did not stop"
    store.close()


def test_watched_folder_renamed_while_being_read_converges_with_no_failures(
    running_watcher: tuple[Watcher, list[BatchReport]],
    watch_library: Path,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's repro: copy 30 photos into lib/A, and `mv lib/A lib/B` once the watcher is reading them."""
    _watcher, reports = running_watcher
    src, dest = watch_library / "A", watch_library / "B"
    reading = threading.Event()
    renamed = threading.Event()
    real_load = pipeline.load

    def load(entry, *args, **kwargs):
        # Hold the first reads until the folder has been renamed under them.
        reading.set()
        renamed.wait(timeout=20)
        return real_load(entry, *args, **kwargs)

    monkeypatch.setattr(pipeline, "load", load)
    staging = watch_library.parent / "staging"
    staging.mkdir()
    for i in range(30):
        (staging / f"{i:02d}.jpg").write_bytes(jpeg_bytes(100 + i))
    src.mkdir()
    for photo in sorted(staging.iterdir()):
        shutil.copy2(photo, src / photo.name)
    assert reading.wait(timeout=20), "the watcher never started reading"
    src.rename(dest)
    renamed.set()

    def disappeared_seen() -> object:
        errors = [e for r in reports for _, e in r.report.failures]
        return DISAPPEARED in errors or f"failures so far: {errors[:3]}"

    eventually(disappeared_seen, "reads under way failed as the folder went")
    eventually(lambda: matches_disk(home, watch_library), "every file under B indexed ok", timeout=30)
    indexed = rows(home)
    assert set(indexed) == {str(p) for p in dest.iterdir()} and len(indexed) == 30
    assert all(status == "ok" for _, status in indexed.values())


def test_watcher_queues_the_files_a_folder_move_left_without_a_row(
    tmp_path: Path, home: Path, embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """White-box, no observer: the rename event for a folder whose reads failed
    queues those files at their new paths at once (not at the next reconcile,
    which by default is ten minutes away); files indexed ok are not queued."""
    from picscribe.indexer.watch._queue import Batch

    lib = tmp_path / "lib"
    album = _album(lib, 6)
    renamed = lib / "B"
    with Store.open(home) as store:
        _indexer(store, embedder).index([album / "00.jpg"])
        _rename_folder_during_first_read(monkeypatch, album, renamed)
        _indexer(store, embedder, workers=1).index([album])
        monkeypatch.undo()
        watcher = Watcher(_indexer(store, embedder), [lib], WatchOptions(debounce=0.3, reconcile_every=0))
        watcher._state.start([str(lib)])
        watcher._apply(Batch(moves=[(str(album), str(renamed))]))
        queued = set(watcher._queue._pending)
    assert queued == {str(renamed / f"{i:02d}.jpg") for i in range(1, 6)}


# -- 9: a move is one transaction ------------------------------------------------------


class _Killed(BaseException):
    """Stands in for kill -9: nothing after it runs."""


def test_index_forgets_the_old_path_of_moved_content_in_the_same_transaction(
    photos: Path, home: Path, embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(home) as store:
        _indexer(store, embedder).index([photos])
    victim = sorted(photos.glob("*.jpg"))[0]
    (photos / "sub").mkdir()
    moved = photos / "sub" / "moved.jpg"
    victim.rename(moved)
    content = rows(home)[str(victim)][0]

    with Store.open(home) as store:
        # Killed after the batches commit, before the run's last step (forgetting what vanished).
        def killed(_paths: object) -> int:
            raise _Killed

        monkeypatch.setattr(store, "remove_paths", killed)
        with pytest.raises(_Killed):
            _indexer(store, embedder).index([photos])
    assert _db_rows(home, "SELECT path FROM images WHERE content_hash = ?", content) == [(str(moved),)]


def test_watcher_update_of_the_new_path_forgets_the_old_one_at_once(
    photos: Path, home: Path, embedder: SentenceTransformerEmbedder
) -> None:
    """Where inotify cannot pair a move's halves, the new path settles first:
    its row replaces the old one in one transaction, before the old path's event."""
    with Store.open(home) as store:
        _indexer(store, embedder).index([photos])
        victim = sorted(photos.glob("*.jpg"))[0]
        content = rows(home)[str(victim)][0]
        moved = photos / "renamed.jpg"
        victim.rename(moved)
        report = _indexer(store, embedder).update([str(moved)])
    assert report.reused == 1 and report.removed == 1
    assert _db_rows(home, "SELECT path FROM images WHERE content_hash = ?", content) == [(str(moved),)]


def test_a_copy_keeps_its_original(photos: Path, home: Path, embedder: SentenceTransformerEmbedder) -> None:
    with Store.open(home) as store:
        _indexer(store, embedder).index([photos])
        original = sorted(photos.glob("*.jpg"))[0]
        copy = photos / "copy.jpg"
        shutil.copy2(original, copy)
        report = _indexer(store, embedder).update([str(copy)])
    assert report.reused == 1 and report.removed == 0
    assert {str(original), str(copy)} <= set(rows(home))


def test_move_paths_is_all_or_nothing(home: Path, embedder: SentenceTransformerEmbedder, tmp_path: Path) -> None:
    """A guard (this held before too): every move of a batch commits together or not at all."""
    photos = tmp_path / "p"
    photos.mkdir()
    for i in range(2):
        (photos / f"{i}.jpg").write_bytes(jpeg_bytes(i))
    with Store.open(home) as store:
        _indexer(store, embedder).index([photos])
    with sqlite3.connect(home / "index.sqlite") as db:
        db.execute(
            "CREATE TRIGGER fail_second_move BEFORE UPDATE OF path ON images WHEN NEW.path LIKE '%/second.jpg'"
            " BEGIN SELECT RAISE(ABORT, 'simulated crash'); END"
        )
    before = sorted(rows(home))
    with Store.open(home) as store:
        with pytest.raises(Exception, match="simulated crash"):
            store.move_paths(
                [
                    (str(photos / "0.jpg"), str(photos / "first.jpg")),
                    (str(photos / "1.jpg"), str(photos / "second.jpg")),
                ]
            )
    assert sorted(rows(home)) == before


# -- 10: failure state belongs to its cause --------------------------------------------


def test_a_captioner_failure_does_not_bind_another_captioner(run: Run, photos: Path) -> None:
    result = run("index", str(photos), "--captioner", "sidecar", "--json")
    assert result.exit_code == 1
    first = json.loads(result.stdout)
    assert first["failed"] == 6 and all("sidecar" in f["error"] for f in first["failures"])

    code, second = index_json(run, str(photos))  # --captioner fake
    assert code == 0, second
    assert second["captioned"] == 6 and second["failures"] == [] and second["still_failing"] == []

    # The same captioner again on unchanged files: its own verdict still stands.
    (photos / "extra").mkdir()
    shutil.copy2(sorted(SAMPLES.glob("*.jpg"))[7], photos / "extra" / "new.jpg")
    result = run("index", str(photos / "extra"), "--captioner", "sidecar", "--json")
    assert result.exit_code == 1
    result = run("index", str(photos / "extra"), "--captioner", "sidecar", "--json")
    again = json.loads(result.stdout)
    assert result.exit_code == 0 and again["hashed"] == 0 and len(again["still_failing"]) == 1


def _heic(folder: Path) -> Path:
    """An HEIC header: without pillow-heif it fails with a hint to install the extra."""
    path = folder / "phone.heic"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    return path


def test_a_decode_failure_is_retried_when_the_decoders_change(
    tmp_path: Path, home: Path, embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "pillow-heif absent" not in decoder_key():
        pytest.skip("pillow-heif is installed here: the HEIC would decode")
    folder = tmp_path / "phone"
    folder.mkdir()
    heic = _heic(folder)
    with Store.open(home) as store:
        first = _indexer(store, embedder).index([folder])
        assert first.failures == [(str(heic), "HEIC needs `pip install 'picscribe[heif]'`")]
        second = _indexer(store, embedder).index([folder])
        assert second.unchanged == 1 and second.failures == [] and [p for p, _ in second.still_failing] == [str(heic)]

        # pillow-heif installed (or Pillow upgraded) since: the decoders' key differs.
        monkeypatch.setattr(pipeline, "decoder_key", lambda: "decoder:Pillow 99; pillow-heif 1.0")
        third = _indexer(store, embedder).index([folder])
    assert third.unchanged == 0, "a failure is final only while its cause is unchanged"
    assert [p for p, _ in third.failures] == [str(heic)] and third.still_failing == []


def test_decoder_key_changes_when_pillow_heif_becomes_importable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = decoder_key()
    if "pillow-heif absent" not in before:
        pytest.skip("pillow-heif is installed here")
    package = tmp_path / "site" / "pillow_heif"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(package.parent))
    assert decoder_key() != before
