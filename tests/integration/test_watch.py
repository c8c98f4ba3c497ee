"""picscribe watch, in-process: a real watchdog observer on a tmp dir, a real
index (SQLite + FAISS), the FakeCaptioner. Every check polls for convergence
with a deadline; nothing sleeps a fixed time to be correct."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from support.watching import (
    DEBOUNCE,
    StartWatcher,
    captions,
    eventually,
    jpeg_bytes,
    matches_disk,
    rows,
    write_jpeg,
)

from picscribe.indexer.watch import IgnorePatterns, watcher_state
from picscribe.store import Store


def test_created_file_is_captioned_once(start_watcher: StartWatcher, library: Path, home: Path) -> None:
    w = start_watcher()
    photo = write_jpeg(library / "new.jpg", 1)
    eventually(lambda: matches_disk(home, library), "new file indexed")
    assert w.captioner.calls == 1
    assert len(captions(home)) == 1
    st = watcher_state(home)
    assert st is not None and st.running and st.pid == os.getpid() and st.roots == (str(library),)
    assert rows(home)[str(photo)][1] == "ok"


def test_file_edited_in_place_is_recaptioned(start_watcher: StartWatcher, library: Path, home: Path) -> None:
    photo = write_jpeg(library / "edit me.jpg", 1)
    w = start_watcher()
    eventually(lambda: matches_disk(home, library), "indexed at start")
    old_hash = rows(home)[str(photo)][0]
    photo.write_bytes(jpeg_bytes(2))
    eventually(lambda: rows(home)[str(photo)][0] != old_hash or "old hash still there", "edit picked up")
    eventually(lambda: matches_disk(home, library), "index matches disk")
    assert w.captioner.calls == 2
    # The old content has no file any more: its generated caption went with it.
    assert [h for _, h, _ in captions(home)] == [rows(home)[str(photo)][0]]


def test_rename_and_folder_move_keep_captions_without_reading(
    start_watcher: StartWatcher, library: Path, home: Path
) -> None:
    write_jpeg(library / "a.jpg", 1)
    for i in range(3):
        write_jpeg(library / "album" / f"{i}.jpg", 10 + i)
    (library / "trips").mkdir()  # watched already: inotify pairs the move's two halves
    w = start_watcher()
    eventually(lambda: matches_disk(home, library), "indexed at start")
    before = captions(home)
    mark = len(w.reports)

    (library / "a.jpg").rename(library / "b.jpg")
    (library / "album").rename(library / "trips" / "album 2024")

    def moved() -> object:
        paths = set(rows(home))
        want = {str(library / "b.jpg")} | {str(library / "trips" / "album 2024" / f"{i}.jpg") for i in range(3)}
        return paths == want or f"paths {sorted(paths)}"

    eventually(moved, "rows follow the renames")
    eventually(lambda: matches_disk(home, library), "index matches disk")
    assert captions(home) == before  # same rows, same timestamps
    assert w.captioner.calls == 4
    assert w.hashed_since(mark) == 0, "a rename must not re-read the file"
    # The batch's report is appended just after its commit: poll, don't race it.
    eventually(
        lambda: sum(r.moved for r in w.reports[mark:]) == 4 or f"moved {[r.moved for r in w.reports[mark:]]}",
        "4 moves reported",
    )


def test_quick_rename_chain_and_overwrite_by_rename(start_watcher: StartWatcher, library: Path, home: Path) -> None:
    write_jpeg(library / "x.jpg", 1)
    write_jpeg(library / "keep.jpg", 2)
    w = start_watcher()
    eventually(lambda: matches_disk(home, library), "indexed at start")
    x_hash = rows(home)[str(library / "x.jpg")][0]
    # Faster than the debounce: x -> y -> z, and z then replaces keep.jpg.
    (library / "x.jpg").rename(library / "y.jpg")
    (library / "y.jpg").rename(library / "z.jpg")
    os.replace(library / "z.jpg", library / "keep.jpg")
    eventually(lambda: set(rows(home)) == {str(library / "keep.jpg")} or sorted(rows(home)), "one row left")
    eventually(lambda: matches_disk(home, library), "index matches disk")
    assert rows(home)[str(library / "keep.jpg")][0] == x_hash
    assert w.captioner.calls == 2
    assert len(captions(home)) == 1  # the overwritten content's caption went


def test_deleted_file_and_folder_leave_sqlite_and_faiss(start_watcher: StartWatcher, library: Path, home: Path) -> None:
    write_jpeg(library / "stay.jpg", 1)
    write_jpeg(library / "go.jpg", 2)
    for i in range(4):
        write_jpeg(library / "old" / "deep" / f"{i}.jpg", 10 + i)
    w = start_watcher()
    eventually(lambda: matches_disk(home, library), "indexed at start")
    (library / "go.jpg").unlink()
    shutil.rmtree(library / "old")
    eventually(lambda: set(rows(home)) == {str(library / "stay.jpg")} or sorted(rows(home)), "rows removed")
    w.stop()
    assert len(captions(home)) == 1
    with Store.open(home) as store:
        assert store.status().searchable == 1
        assert len(store.vector_index()) == 1


@pytest.mark.slow
def test_burst_of_500_files(start_watcher: StartWatcher, library: Path, home: Path) -> None:
    w = start_watcher()
    for i in range(500):
        (library / f"burst {i:03d}.jpg").write_bytes(jpeg_bytes(i))
    eventually(lambda: matches_disk(home, library), "500 files indexed", timeout=60)
    assert w.captioner.calls == 500  # each exactly once
    assert len(captions(home)) == 500
    w.stop()
    with Store.open(home) as store:
        assert len(store.vector_index()) == store.status().searchable == 500


def test_file_written_slowly_is_never_read_half_written(start_watcher: StartWatcher, library: Path, home: Path) -> None:
    w = start_watcher()
    data = jpeg_bytes(7, size=256, noise=True)
    target = library / "slow.jpg"
    chunks = [data[i : i + len(data) // 12 + 1] for i in range(0, len(data), len(data) // 12 + 1)]
    with target.open("wb") as f:
        for chunk in chunks:
            f.write(chunk)
            f.flush()
            # Pauses shorter than the debounce: the copy is still going.
            time.sleep(DEBOUNCE / 3)
            assert str(target) not in rows(home), "read before the file was complete"
    eventually(lambda: matches_disk(home, library), "complete file indexed")
    assert w.captioner.calls == 1
    assert not any(r.report.failures for r in w.reports)
    with sqlite3.connect(home / "index.sqlite") as db:
        (size,) = db.execute("SELECT size FROM images WHERE path = ?", (str(target),)).fetchone()
    assert size == len(data)


def test_hidden_and_temporary_files_are_ignored(start_watcher: StartWatcher, library: Path, home: Path) -> None:
    write_jpeg(library / ".hidden.jpg", 1)  # present at start: the scan skips it too
    write_jpeg(library / "download.jpg.part", 2)
    w = start_watcher(ignore=(".*", "~$*", "*.tmp", "*.part", "*.crdownload", "*.skip"))
    for i, name in enumerate(["~$lock.jpg", "x.tmp", "y.crdownload", "z.jpg.skip", ".cache/thumb.jpg"]):
        write_jpeg(library / name, 10 + i)
    write_jpeg(library / "real.jpg", 3)
    eventually(lambda: set(rows(home)) == {str(library / "real.jpg")} or sorted(rows(home)), "only real.jpg")
    # A finished download is renamed to its real name: now it counts.
    (library / "download.jpg.part").rename(library / "download.jpg")
    eventually(
        lambda: set(rows(home)) == {str(library / "real.jpg"), str(library / "download.jpg")} or sorted(rows(home)),
        "download indexed once complete",
    )
    assert w.captioner.calls == 2


def test_restart_catches_up_with_changes_made_while_down(
    start_watcher: StartWatcher, library: Path, home: Path
) -> None:
    for i in range(4):
        write_jpeg(library / f"{i}.jpg", i)
    first = start_watcher()
    eventually(lambda: matches_disk(home, library), "indexed")
    first.stop()
    assert not watcher_state(home).running  # type: ignore[union-attr]
    (library / "0.jpg").unlink()
    (library / "1.jpg").rename(library / "one.jpg")
    (library / "2.jpg").write_bytes(jpeg_bytes(99))
    write_jpeg(library / "new.jpg", 50)
    second = start_watcher()
    eventually(lambda: matches_disk(home, library), "caught up at start")
    assert second.captioner.calls == 2  # the edited file and the new one; the renamed one is reused
    assert second.reports[0].kind == "reconcile"


def test_queue_overflow_falls_back_to_a_scan(start_watcher: StartWatcher, library: Path, home: Path) -> None:
    w = start_watcher(max_pending=25)
    for i in range(120):
        write_jpeg(library / f"{i}.jpg", i)
    eventually(lambda: matches_disk(home, library), "all indexed after overflow", timeout=60)
    assert w.watcher._queue.overflows >= 1
    # Events after the overflow may have brought every file in already; the
    # scan it asked for still runs.
    eventually(lambda: [r.kind for r in w.reports].count("reconcile") >= 2 or "no scan after the overflow", "scan")
    assert w.captioner.calls == 120


def test_ignore_patterns_match_names_below_the_root_only() -> None:
    rules = IgnorePatterns([".*", "*.part", "~$*"], roots=["/home/u/.photos"])
    assert rules.accepts("/home/u/.photos/2024/a.jpg")
    assert rules.ignored("/home/u/.photos/.thumbs/a.jpg")
    assert rules.ignored("/home/u/.photos/IMG_1.JPG.PART")
    assert rules.ignored("/home/u/.photos/~$doc.jpg")
    assert rules.accepts("/elsewhere/b.jpg") and rules.ignored("/elsewhere/.b.jpg")
