"""picscribe watch as users run it: a real process, killed with SIGKILL in the
middle of a batch and started again, then stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import Run
from support.deadline import deadline
from support.watching import eventually, jpeg_bytes, matches_disk

from picscribe.store import Store

pytestmark = pytest.mark.slow


def _watch(library: Path, log: Path, batch_size: int) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "picscribe",
        "watch",
        str(library),
        "--captioner",
        "fake",
        "--batch-size",
        str(batch_size),
        "--debounce",
        "0.2",
        "--json",
    ]
    # stdout to a file: a pipe nobody reads could fill and block the watcher.
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)


def _captioned(home: Path) -> int:
    try:
        with sqlite3.connect(home / "index.sqlite") as db:
            return db.execute("SELECT count(*) FROM captions").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # no schema yet


def test_kill_9_mid_batch_then_restart_loses_and_duplicates_nothing(tmp_path: Path, home: Path, run: Run) -> None:
    library = tmp_path / "library"
    library.mkdir()
    total = 120
    for i in range(total):
        (library / f"{i:03d}.jpg").write_bytes(jpeg_bytes(i))
    log = tmp_path / "watch.log"
    first = _watch(library, log, batch_size=2)  # many small transactions: a kill lands between two
    try:
        eventually(lambda: _captioned(home) > 0 or "nothing committed yet", "first batches committed", timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    committed = _captioned(home)
    assert 0 < committed < total, f"the kill was meant to land mid-run, {committed} of {total} were done"

    state = json.loads(run("status", "--json").stdout)["watcher"]
    assert state["running"] is False and state["pid"] == first.pid and state["stopped_at"] is None

    # While nobody watches: one file goes, one arrives.
    (library / "000.jpg").unlink()
    (library / "new.jpg").write_bytes(jpeg_bytes(1000))

    second = _watch(library, log, batch_size=64)
    try:
        eventually(
            lambda: json.loads(run("status", "--json").stdout)["watcher"]["pid"] == second.pid or "old state",
            "restarted watcher reports itself",
            timeout=30,
        )
        # A third watcher, started from this process (the lock is the second
        # process's all the same): a subprocess would only add seconds of imports.
        # If the refusal broke, that watcher would watch forever: the deadline ends it.
        with deadline(60):
            refused = run("watch", str(library), "--captioner", "fake")
        assert refused.exit_code == 1
        assert f"another watcher (pid {second.pid}) is already watching" in refused.stderr
        status = json.loads(run("status", "--json").stdout)
        assert status["watcher"]["running"] is True and status["watcher"]["roots"] == [str(library)]
        assert "running (pid" in run("status").stdout

        eventually(lambda: matches_disk(home, library), "index matches the disk after restart", timeout=90)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    finally:
        if second.poll() is None:
            second.kill()

    with sqlite3.connect(home / "index.sqlite") as db:
        per_content = db.execute("SELECT content_hash, count(*) FROM captions GROUP BY content_hash").fetchall()
        paths = [p for (p,) in db.execute("SELECT path FROM images")]
    assert len(per_content) == total and all(
        n == 1 for _, n in per_content
    )  # all but one old, and the new one, once each
    assert len(paths) == total and str(library / "000.jpg") not in paths
    with Store.open(home) as store:
        assert len(store.vector_index()) == store.status().searchable == total
    after = json.loads(run("status", "--json").stdout)["watcher"]
    assert after["running"] is False and after["stopped_at"] is not None and after["queue_length"] == 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert lines and all({"kind", "captioned", "removed", "queue_length"} <= set(d) for d in lines)
    assert os.path.exists(home / "watch.lock")  # left in place, but no longer locked
