"""FIFOs, devices and sockets are never opened, and one that claims to be an
image is reported with the reason instead of being skipped in silence.

Opening a FIFO blocks until a writer comes: a watcher that opened one hung for
good. Each test that could hang releases a stuck reader on the way out.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import Run
from support.watching import eventually, jpeg_bytes, rows

from picscribe.indexer import FakeCaptioner, Indexer, IndexOptions
from picscribe.indexer.scan import scan
from picscribe.indexer.sniff import looks_like_image
from picscribe.indexer.watch import BatchReport, Watcher, WatchOptions
from picscribe.search import SentenceTransformerEmbedder
from picscribe.store import Store

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


def _release(fifo: Path) -> None:
    """Unblock anything stuck opening ``fifo`` for reading (the bug under test)."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return  # no reader waiting: nothing is stuck
    os.close(fd)


@pytest.fixture
def fifos(tmp_path: Path) -> Iterator[list[Path]]:
    made: list[Path] = []
    yield made
    for fifo in made:
        _release(fifo)


def _mkfifo(path: Path, made: list[Path]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    made.append(path)
    return path


def _returns_within(seconds: float, fn, *args):
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(fn(*args)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{getattr(fn, '__name__', fn)} blocked"
    return out[0]


def test_sniffing_a_fifo_does_not_block(tmp_path: Path, fifos: list[Path]) -> None:
    fifo = _mkfifo(tmp_path / "pipe", fifos)
    assert _returns_within(5, looks_like_image, fifo) is False


def test_scan_reports_special_files_that_claim_to_be_images(tmp_path: Path, fifos: list[Path]) -> None:
    folder = tmp_path / "lib"
    _mkfifo(folder / "fifo.jpg", fifos)
    _mkfifo(folder / "no extension", fifos)  # not a candidate: skipped, as a folder scan skips notes.txt
    (folder / "x.jpg").symlink_to("/dev/zero")
    (folder / "real.jpg").write_bytes(jpeg_bytes(1))
    found = _returns_within(10, scan, [folder])
    assert [e.path for e in found.files] == [str(folder / "real.jpg")]
    assert sorted(found.errors) == [
        (str(folder / "fifo.jpg"), "not a regular file (FIFO)"),
        (str(folder / "x.jpg"), "not a regular file (character device)"),
    ]


def test_socket_named_like_an_image_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.png"
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.bind(str(path))
        except OSError as exc:  # a path too long for AF_UNIX
            pytest.skip(f"cannot bind a unix socket here: {exc}")
        found = scan([path])
    assert found.errors == [(str(path), "not a regular file (socket)")]


def test_index_names_a_fifo_and_a_device_link_with_the_reason(run: Run, tmp_path: Path, fifos: list[Path]) -> None:
    fifo = _mkfifo(tmp_path / "fifo.jpg", fifos)
    zero = tmp_path / "x.jpg"
    zero.symlink_to("/dev/zero")

    result = run("index", str(fifo), str(zero), "--captioner", "fake", "--json")
    assert result.exit_code == 1, result.output
    assert "No images found" not in result.stderr
    assert f"failed: {fifo}: not a regular file (FIFO)" in result.stderr
    assert f"failed: {zero}: not a regular file (character device)" in result.stderr
    report = json.loads(result.stdout)
    assert sorted((f["path"], f["error"]) for f in report["failures"]) == [
        (str(fifo), "not a regular file (FIFO)"),
        (str(zero), "not a regular file (character device)"),
    ]

    # Known by now: still listed, as a warning, and not "No images found".
    again = run("index", str(fifo), "--captioner", "fake", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["still_failing"] == [{"path": str(fifo), "error": "not a regular file (FIFO)"}]
    assert "No images found" not in again.stderr and f"failed: {fifo}: not a regular file (FIFO)" in again.stderr


def test_update_of_a_fifo_returns(home: Path, model_cache: Path, tmp_path: Path, fifos: list[Path]) -> None:
    fifo = _mkfifo(tmp_path / "pipe", fifos)
    named = _mkfifo(tmp_path / "named.jpg", fifos)
    embedder = SentenceTransformerEmbedder(cache_dir=model_cache / "models")
    with Store.open(home) as store:
        indexer = Indexer(store, FakeCaptioner(), embedder, IndexOptions())
        report = _returns_within(10, indexer.update, [str(fifo), str(named)])
    assert report.failures == [(str(named), "not a regular file (FIFO)")]
    assert report.scanned == 0


def test_update_of_a_name_that_is_not_utf8_reports_it_and_indexes_the_rest(
    home: Path, model_cache: Path, tmp_path: Path
) -> None:
    # A watcher hands such names to update() as they come; SQLite cannot take
    # them, and asking it used to fail the whole step, good files included.
    latin1 = os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9.jpg")
    Path(latin1).write_bytes(jpeg_bytes(1))
    good = tmp_path / "good.jpg"
    good.write_bytes(jpeg_bytes(2))
    embedder = SentenceTransformerEmbedder(cache_dir=model_cache / "models")
    with Store.open(home) as store:
        indexer = Indexer(store, FakeCaptioner(), embedder, IndexOptions())
        report = indexer.update([latin1, str(good)])
    assert report.captioned == 1
    assert report.failures == [
        (str(tmp_path / "caf\\xe9.jpg"), "file name is not valid UTF-8; rename the file to index it")
    ]


@pytest.fixture
def watched(
    tmp_path: Path, home: Path, model_cache: Path, fifos: list[Path]
) -> Iterator[tuple[Path, Watcher, threading.Thread, list[BatchReport]]]:
    library = tmp_path / "lib"
    library.mkdir()
    embedder = SentenceTransformerEmbedder(cache_dir=model_cache / "models")
    store = Store.open(home)
    indexer = Indexer(store, FakeCaptioner(), embedder, IndexOptions())
    reports: list[BatchReport] = []
    watcher = Watcher(indexer, [library], WatchOptions(debounce=0.3, reconcile_every=0), on_batch=reports.append)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    eventually(lambda: bool(reports) or "no reconciliation yet", "watcher started")
    yield library, watcher, thread, reports
    watcher.stop()
    for fifo in fifos:
        _release(fifo)  # a watcher stuck on one is freed, so the test ends
    thread.join(timeout=30)
    store.close()


def test_fifo_in_a_watched_folder_does_not_hang_the_watcher(
    watched: tuple[Path, Watcher, threading.Thread, list[BatchReport]], home: Path, fifos: list[Path]
) -> None:
    library, watcher, thread, reports = watched
    _mkfifo(library / "pipe", fifos)
    _mkfifo(library / "fifo.jpg", fifos)

    def fifo_reported() -> object:
        failures = [f for r in reports for f in r.report.failures]
        return (str(library / "fifo.jpg"), "not a regular file (FIFO)") in failures or f"failures: {failures}"

    eventually(fifo_reported, "fifo.jpg reported", timeout=10)
    photo = library / "later.jpg"
    photo.write_bytes(jpeg_bytes(3))
    # Generous: the first caption of the session loads the embedding model.
    eventually(
        lambda: rows(home).get(str(photo), (None, ""))[1] == "ok" or sorted(rows(home)),
        "later file indexed",
        timeout=90,
    )
    watcher.stop()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the watcher did not stop"
