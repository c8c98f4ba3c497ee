"""Watching a folder in tests: a real watchdog observer on a tmp dir, a real
index (SQLite + FAISS) and the FakeCaptioner; helpers that poll for convergence
with a deadline, so nothing sleeps a fixed time to be correct.

The fixtures ``library`` and ``start_watcher`` reach every test through
``pytest_plugins`` in tests/conftest.py.
"""

from __future__ import annotations

import io
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from picscribe.indexer import Captioner, FakeCaptioner, Indexer, IndexOptions
from picscribe.indexer.watch import BatchReport, IgnorePatterns, Watcher, WatchOptions
from picscribe.search import SentenceTransformerEmbedder
from picscribe.store import Store

DEBOUNCE = 0.3


def jpeg_bytes(i: int, size: int = 16, noise: bool = False) -> bytes:
    """A small JPEG unique to ``i`` (its number is in a comment: equal pixels never mean equal files)."""
    img = Image.new("RGB", (size, size), ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256))
    if noise:
        img = Image.effect_noise((size, size), 80).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "JPEG", comment=f"picscribe test image {i}".encode())
    return buf.getvalue()


def write_jpeg(path: Path, i: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg_bytes(i))
    return path


def eventually(check: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is True or result is None:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout}s; last check said: {result}")
        time.sleep(0.05)


def rows(home: Path) -> dict[str, tuple[str | None, str]]:
    """path -> (content_hash, status) for every image row."""
    with sqlite3.connect(home / "index.sqlite") as db:
        return {p: (h, s) for p, h, s in db.execute("SELECT path, content_hash, status FROM images")}


def captions(home: Path) -> list[tuple]:
    with sqlite3.connect(home / "index.sqlite") as db:
        return db.execute("SELECT id, content_hash, created_at FROM captions ORDER BY id").fetchall()


def matches_disk(home: Path, root: Path, ignore: IgnorePatterns | None = None) -> object:
    """True when the index holds exactly the images on disk, each ok and searchable."""
    on_disk = {str(p) for p in root.rglob("*") if p.is_file() and (ignore is None or ignore.accepts(str(p)))}
    indexed = rows(home)
    if set(indexed) != on_disk:
        return f"missing {sorted(on_disk - set(indexed))[:3]}, extra {sorted(set(indexed) - on_disk)[:3]}"
    if any(status != "ok" for _, status in indexed.values()):
        return f"not ok: {[(p, s) for p, (_, s) in indexed.items() if s != 'ok'][:3]}"
    with sqlite3.connect(home / "index.sqlite") as db:
        current = db.execute("SELECT count(*) FROM current_captions").fetchone()[0]
    distinct = len({h for h, _ in indexed.values()})
    return True if current == distinct else f"{current} searchable captions for {distinct} contents"


class Running:
    """A watcher running on a thread, and what it reported."""

    def __init__(self, watcher: Watcher, captioner: Any, thread: threading.Thread) -> None:
        # Any: the FakeCaptioner (tests read its ``calls``) unless a test passed another.
        self.watcher = watcher
        self.captioner = captioner
        self.thread = thread
        self.reports: list[BatchReport] = []

    def stop(self) -> None:
        self.watcher.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "watcher did not stop"

    def hashed_since(self, mark: int) -> int:
        return sum(r.report.hashed for r in self.reports[mark:])


StartWatcher = Callable[..., Running]


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    root.mkdir()
    return root


@pytest.fixture
def start_watcher(home: Path, model_cache: Path, library: Path) -> Iterator[StartWatcher]:
    started: list[tuple[Running, Store]] = []
    embedder = SentenceTransformerEmbedder(cache_dir=model_cache / "models")
    # Load the model now (once per session): its first load, 20 s and more on a
    # busy machine, is not what any test's deadline is there to measure.
    assert embedder.dim > 0

    def start(captioner: Captioner | None = None, **options: object) -> Running:
        store = Store.open(home)
        captioner = captioner or FakeCaptioner()
        indexer = Indexer(store, captioner, embedder, IndexOptions(batch_size=64, workers=2))
        opts = WatchOptions(**{"debounce": DEBOUNCE, "reconcile_every": 0, **options})  # type: ignore[arg-type]
        holder: list[Running] = []
        watcher = Watcher(indexer, [library], opts, on_batch=lambda r: holder[0].reports.append(r))
        running = Running(watcher, captioner, threading.Thread(target=watcher.run, daemon=True))
        holder.append(running)
        running.thread.start()
        started.append((running, store))
        # The start-up reconciliation is the first batch reported.
        eventually(lambda: bool(running.reports) or "no reconciliation yet", "watcher started")
        return running

    yield start
    for running, store in started:
        if running.thread.is_alive():
            running.stop()
        store.close()
