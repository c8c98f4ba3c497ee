"""``picscribe index --engine ray`` on a real local Ray cluster (2 CPUs, shared by the session).

The Ray engine must give the index the local engine gives (the same rows,
captions and vectors, the same per-file errors), send nothing when there is
nothing new, and survive a dead worker actor and a driver killed with SIGKILL
without losing or duplicating a photo. The ``flaky`` captioner plugin
(support/flaky_plugin) crashes, slows down and logs on the workers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.paths import SAMPLES
from support.ray_cluster import RayCluster

pytestmark = pytest.mark.slow


def _index(run, home: Path, *args: str) -> tuple[int, dict]:
    result = run("--home", str(home), "index", *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def _copy_samples(folder: Path, count: int | None = None) -> Path:
    folder.mkdir()
    for src in sorted(SAMPLES.glob("*.jpg"))[:count]:
        shutil.copy2(src, folder / src.name)
    return folder


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{home / 'index.sqlite'}?mode=ro", uri=True)


def _snapshot(home: Path) -> dict[str, tuple[str, str, list, list, np.ndarray]]:
    """Each indexed path's current caption: text, OCR text, tags, objects and vector."""
    with _db(home) as db:
        rows = db.execute(
            "SELECT i.path, c.id, c.text, c.ocr_text, e.vector FROM images i"
            " JOIN current_captions cc ON cc.content_hash = i.content_hash"
            " JOIN captions c ON c.id = cc.caption_id JOIN embeddings e ON e.caption_id = c.id"
            " WHERE i.status = 'ok'"
        ).fetchall()
        return {
            path: (
                text,
                ocr,
                db.execute("SELECT label, score FROM tags WHERE caption_id = ? ORDER BY label", (cid,)).fetchall(),
                db.execute("SELECT label, count FROM objects WHERE caption_id = ? ORDER BY label", (cid,)).fetchall(),
                np.frombuffer(vector, dtype=np.float32),
            )
            for path, cid, text, ocr, vector in rows
        }


def _assert_same_index(local: Path, ray: Path) -> None:
    expected, got = _snapshot(local), _snapshot(ray)
    assert expected and set(got) == set(expected)
    for path, (text, ocr, tags, objects, vector) in expected.items():
        assert got[path][:4] == (text, ocr, tags, objects), path
        assert np.allclose(got[path][4], vector, atol=1e-5), path


def _each_photo_once(home: Path, folder: Path) -> None:
    """One ok row per file on disk, each with exactly one caption by the run's captioner; the database whole."""
    with _db(home) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = db.execute("SELECT path, status, content_hash FROM images").fetchall()
        per_hash = Counter(h for (h,) in db.execute("SELECT content_hash FROM captions"))
    assert sorted(p for p, _, _ in rows) == sorted(str(p) for p in folder.iterdir())
    assert {status for _, status, _ in rows} == {"ok"}
    assert {per_hash[h] for _, _, h in rows} == {1}


def _flaky(tmp_path: Path, **controls: str) -> tuple[str, Path]:
    folder = tmp_path / "flaky"
    folder.mkdir()
    for name, value in controls.items():
        (folder / name.replace("_", "-")).write_text(value)
    return f"flaky:{folder}", folder


def _captioned(controls: Path) -> list[tuple[str, str]]:
    """(run label, path) for each image the flaky captioner captioned, on any worker."""
    log = controls / "captioned.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [(run, path) for run, path in (line.split("\t") for line in lines)]


@pytest.fixture
def flaky_plugin(ray_cluster: RayCluster, monkeypatch: pytest.MonkeyPatch) -> RayCluster:
    """The flaky captioner, registered for this process too (the driver builds it to learn its model id)."""
    monkeypatch.syspath_prepend(str(ray_cluster.plugin_site))
    monkeypatch.delitem(sys.modules, "picscribe_flaky", raising=False)
    return ray_cluster


@pytest.mark.ray
def test_fake_on_ray_gives_the_local_index_errors_included_and_a_rerun_sends_nothing(run, tmp_path, ray_cluster):
    photos = _copy_samples(tmp_path / "photos")
    good = sorted(photos.iterdir())
    shutil.copy2(good[0], photos / "twin of the first.jpg")  # duplicate content: captioned once
    (photos / "truncated.jpg").write_bytes(good[1].read_bytes()[:2000])
    (photos / "not-an-image.jpg").write_text("hello")
    (photos / "empty.jpg").write_bytes(b"")
    Image.new("RGB", (1200, 1000), "white").save(photos / "too many pixels.png")
    reports = {}
    for engine in ("local", "ray"):
        home = tmp_path / engine
        home.mkdir()
        (home / "config.toml").write_text("max_pixels = 1_000_000\n")  # the samples are 640x480 or less
        code, reports[engine] = _index(run, home, str(photos), "--captioner", "fake", "--engine", engine)
        assert code == 1, reports[engine]  # some files failed
    local, ray = reports["local"], reports["ray"]
    for key in ("scanned", "captioned", "reused", "failed", "decoded", "hashed"):
        assert ray[key] == local[key], key
    assert (ray["captioned"], ray["reused"]) == (len(good), 1)
    assert len(local["failures"]) == 4
    assert sorted(map(str, ray["failures"])) == sorted(map(str, local["failures"]))
    _assert_same_index(tmp_path / "local", tmp_path / "ray")

    # Nothing changed: nothing is read, nothing goes to the cluster.
    code, again = _index(run, tmp_path / "ray", str(photos), "--captioner", "fake", "--engine", "ray")
    assert code == 0, again  # the failures are old ones now, listed as still failing
    assert (again["unchanged"], again["hashed"], again["decoded"], again["captioned"]) == (ray["scanned"], 0, 0, 0)
    assert len(again["still_failing"]) == 4

    # A moved photo is known content: hashed here, reused, still not sent.
    good[2].rename(photos / "moved.jpg")
    code, moved = _index(run, tmp_path / "ray", str(photos), "--captioner", "fake", "--engine", "ray")
    assert code == 0, moved
    assert (moved["hashed"], moved["reused"], moved["decoded"], moved["captioned"], moved["removed"]) == (1, 1, 0, 0, 1)


@pytest.mark.ray
@pytest.mark.models
def test_offline_on_ray_gives_the_local_captions_and_vectors(run, tmp_path, ray_cluster):
    photos = _copy_samples(tmp_path / "photos", 3)
    code, local = _index(run, tmp_path / "local", str(photos), "--captioner", "offline")
    assert code == 0
    code, ray = _index(run, tmp_path / "ray", str(photos), "--captioner", "offline", "--engine", "ray")
    assert code == 0, ray
    assert ray["captioned"] == local["captioned"] == 3
    _assert_same_index(tmp_path / "local", tmp_path / "ray")


@pytest.mark.ray
def test_a_killed_driver_then_a_killed_worker_lose_and_duplicate_nothing(run, tmp_path, flaky_plugin):
    """Two faults, one library (each run of a Ray test costs seconds of actor start-up):
    the driver is killed with SIGKILL mid-run; the rerun's worker actor dies in its first batch."""
    photos = _copy_samples(tmp_path / "photos", 8)
    spec, controls = _flaky(tmp_path, delay="0.5", run="killed")
    home = tmp_path / "home"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(flaky_plugin.plugin_site), *sys.path])}
    driver = subprocess.Popen(
        [sys.executable, "-m", "picscribe", "--home", str(home), "index", str(photos), "--captioner", spec]
        + ["--engine", "ray", "--ray-address", flaky_plugin.address, "--batch-size", "1", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        give_up = time.monotonic() + 120
        while _committed(home) < 2:
            assert driver.poll() is None, driver.stderr.read().decode() if driver.stderr else ""
            assert time.monotonic() < give_up, "no two batches committed in 120 s"
            time.sleep(0.1)
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        if driver.stderr:
            driver.stderr.close()
    with _db(home) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        before = {p for (p,) in db.execute("SELECT path FROM images WHERE status = 'ok'")}
    assert 2 <= len(before) < 8, "the driver must die mid-run"

    (controls / "run").write_text("rerun")
    (controls / "delay").unlink()
    (controls / "crash-once").write_text("")
    code, report = _index(run, home, str(photos), "--captioner", spec, "--engine", "ray", "--batch-size", "2")
    assert code == 0, report
    assert not (controls / "crash-once").exists(), "the actor never crashed: the test proved nothing"
    assert (report["captioned"], report["failed"]) == (8 - len(before), 0)
    _each_photo_once(home, photos)
    # Nothing committed before the kill was captioned again, and the batch the crash
    # cut short (it died before captioning) was captioned once, by Ray's retry.
    rerun = sorted(path for label, path in _captioned(controls) if label == "rerun")
    assert rerun == sorted({str(p) for p in photos.iterdir()} - before)


def _committed(home: Path) -> int:
    if not (home / "index.sqlite").exists():
        return 0
    try:
        with _db(home) as db:
            return int(db.execute("SELECT count(*) FROM captions").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


def test_without_ray_the_error_says_how_to_install_it(tmp_path):
    """A subprocess where ``import ray`` fails: a clear error, and plain ``import picscribe`` never needs Ray."""
    blocker = tmp_path / "no_ray"
    blocker.mkdir()
    (blocker / "ray.py").write_text("raise ImportError('No module named ray (blocked for this test)')\n")
    photos = _copy_samples(tmp_path / "photos", 1)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-m", "picscribe", "index", str(photos), "--captioner", "fake", "--engine", "ray"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "pip install 'picscribe[ray]'" in done.stderr
    check = "import sys, picscribe.cli; from picscribe import Library; assert 'ray' not in sys.modules, 'ray imported'"
    assert subprocess.run([sys.executable, "-c", check], env=env, timeout=120).returncode == 0
