"""Progress as events: the pipeline reports, front ends draw.

The real pipeline, real SQLite and FAISS, the FakeCaptioner. A recording
follower checks what arrives, in what order, and that a file is reported
only once the index holds it. The CLI's tqdm adapter is tested on a fake
terminal and through a real pseudo-terminal.
"""

from __future__ import annotations

import ast
import fcntl
import io
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image
from support.cli import Run
from support.paths import REPO
from support.watching import eventually

import picscribe.indexer
from picscribe.cli._progress import TerminalBar, terminal_progress
from picscribe.indexer import CaptionerStopped, CaptionResult, FakeCaptioner, Indexer, IndexOptions, IndexReport
from picscribe.indexer.progress import CAPTIONED, FAILED, OUTCOMES, PENDING, REUSED, NoProgress, Progress
from picscribe.indexer.watch import Watcher, WatchOptions
from picscribe.search import SentenceTransformerEmbedder
from picscribe.store import Store
from picscribe.ui.indexing import CountingProgress


class Recorder:
    """Keeps every event, and what the index held for a file when it was reported."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store
        self.events: list[tuple[object, ...]] = []
        #: (path, outcome) of each file event, in order.
        self.files: list[tuple[str, str]] = []
        self.status_when_told: dict[str, str | None] = {}

    def on_total(self, total: int) -> None:
        self.events.append(("total", total))

    def on_file(self, path: str, outcome: str) -> None:
        self.events.append(("file", path, outcome))
        self.files.append((path, outcome))
        if self.store is not None:
            state = self.store.file_states_at([path]).get(path)
            self.status_when_told[path] = state.status if state else None

    def on_batch(self, report: IndexReport) -> None:
        self.events.append(("batch", report.captioned, report.reused, report.failed))

    def outcomes(self) -> Counter[str]:
        return Counter(outcome for _, outcome in self.files)


@pytest.fixture
def embedder(model_cache: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(cache_dir=model_cache / "models")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Five distinct photos, a byte-for-byte copy of one, and a truncated JPEG."""
    root = tmp_path / "album"
    root.mkdir()
    for i in range(5):
        Image.new("RGB", (40, 30), (40 * i, 90, 200 - 30 * i)).save(root / f"p{i}.png")
    shutil.copy2(root / "p0.png", root / "p0-copy.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)
    return root


def _indexer(home: Path, embedder: SentenceTransformerEmbedder, captioner: FakeCaptioner | None = None) -> Indexer:
    store = Store.open(home, create=True)
    return Indexer(store, captioner or FakeCaptioner(), embedder, IndexOptions(batch_size=2, workers=2))


def test_protocol_is_exported_and_the_no_op_follows_it() -> None:
    assert picscribe.indexer.Progress is Progress and picscribe.indexer.NoProgress is NoProgress
    follower: Progress = NoProgress()  # a type checker holds it to the protocol
    follower.on_total(3)
    follower.on_file("/x.jpg", CAPTIONED)
    follower.on_batch(IndexReport("fake", "fake-v1"))


def test_index_reports_total_then_each_file_once_committed_with_its_outcome(
    home: Path, folder: Path, embedder: SentenceTransformerEmbedder
) -> None:
    indexer = _indexer(home, embedder)
    rec = Recorder(indexer.store)
    report = indexer.index([folder], progress=rec)
    indexer.store.close()

    assert rec.events[0] == ("total", 7)
    assert [e for e in rec.events if e[0] == "total"] == [("total", 7)]
    # Every file once, each with the outcome the report counts.
    assert sorted(p for p, _ in rec.files) == sorted(str(p) for p in folder.iterdir())
    assert rec.outcomes() == {CAPTIONED: 5, REUSED: 1, FAILED: 1}
    assert (report.captioned, report.reused, report.failed) == (5, 1, 1)
    assert dict(rec.files)[str(folder / "broken.jpg")] == FAILED
    # Told only after the transaction: the index already held each file.
    assert rec.status_when_told == {p: ("failed" if outcome == FAILED else "ok") for p, outcome in rec.files}
    # Batches of two: several commits, each told after its files, counts growing to the report's.
    batches = [e for e in rec.events if e[0] == "batch"]
    assert len(batches) >= 3
    assert rec.events[-1] == ("batch", 5, 1, 1)
    captioned_so_far = 0
    for event in rec.events[1:]:
        if event[0] == "file":
            captioned_so_far += event[2] == CAPTIONED
        elif event[0] == "batch":
            assert event[1] == captioned_so_far
    assert all(e[2] in OUTCOMES for e in rec.events if e[0] == "file")


def test_a_second_run_reports_only_what_it_reads(
    home: Path, folder: Path, embedder: SentenceTransformerEmbedder
) -> None:
    indexer = _indexer(home, embedder)
    indexer.index([folder])
    (folder / "p1.png").rename(folder / "moved.png")
    Image.new("RGB", (40, 30), (250, 250, 10)).save(folder / "p2.png")  # edited in place

    rec = Recorder(indexer.store)
    report = indexer.index([folder], progress=rec)
    # The broken file failed before and is unchanged: not read again, so not counted.
    assert rec.events[0] == ("total", 2)
    assert sorted(rec.files) == [(str(folder / "moved.png"), REUSED), (str(folder / "p2.png"), CAPTIONED)]
    assert (report.reused, report.captioned, report.removed) == (1, 1, 1)

    rec = Recorder()
    indexer.index([folder], progress=rec)
    assert rec.events == [("total", 0)]  # nothing to read, nothing committed
    indexer.store.close()


def test_update_and_reindex_report_too(home: Path, folder: Path, embedder: SentenceTransformerEmbedder) -> None:
    indexer = _indexer(home, embedder)
    indexer.index([folder])
    Image.new("RGB", (40, 30), (5, 5, 5)).save(folder / "new.png")
    rec = Recorder(indexer.store)
    indexer.update([str(folder / "new.png")], progress=rec)
    assert rec.events == [("total", 1), ("file", str(folder / "new.png"), CAPTIONED), ("batch", 1, 0, 0)]

    again = Indexer(indexer.store, FakeCaptioner(model="v2"), embedder, IndexOptions(batch_size=2))
    rec = Recorder()
    report = again.reindex(progress=rec)
    assert report.complete and report.captioned == 6
    # One row per content: the copy shares p0's; the broken file has none.
    assert rec.events[0] == ("total", 6)
    assert rec.outcomes() == {CAPTIONED: 6}
    indexer.store.close()


class _StopsAfter(FakeCaptioner):
    """Captions ``allowed`` images, then stops the run like a spent API budget."""

    def __init__(self, allowed: int) -> None:
        super().__init__()
        self.allowed = allowed

    def caption(self, images: Sequence[Image.Image], task: str = "caption") -> list[CaptionResult]:
        if self.calls + len(images) > self.allowed:
            raise CaptionerStopped("budget spent")
        return super().caption(images, task)


def test_a_stopped_run_reports_pending_files_and_stops_short_of_its_total(
    home: Path, folder: Path, embedder: SentenceTransformerEmbedder
) -> None:
    for p in ("p0-copy.png", "broken.jpg"):
        (folder / p).unlink()
    indexer = _indexer(home, embedder, _StopsAfter(allowed=2))
    rec = Recorder(indexer.store)
    report = indexer.index([folder], progress=rec)
    indexer.store.close()
    assert report.stopped == "budget spent"
    assert rec.events[0] == ("total", 5)
    counts = rec.outcomes()
    assert counts[CAPTIONED] == report.captioned == 2
    assert counts[PENDING] == 2  # the batch the captioner refused
    assert len(rec.files) < 5  # the fifth file was never reached
    assert all(rec.status_when_told[p] is None for p, o in rec.files if o == PENDING)  # left for the next run


def test_a_watcher_reports_each_of_its_runs(home: Path, folder: Path, embedder: SentenceTransformerEmbedder) -> None:
    indexer = _indexer(home, embedder)
    rec = Recorder()  # told on the watcher's thread: it reads nothing from the store there
    watcher = Watcher(indexer, [folder], WatchOptions(debounce=0.2, reconcile_every=0), progress=rec)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    try:
        eventually(lambda: len(rec.files) == 7 or rec.events, "the start-up scan reported")
        assert rec.events[0] == ("total", 7)
        Image.new("RGB", (40, 30), (1, 2, 3)).save(folder / "late.png")
        eventually(lambda: ("file", str(folder / "late.png"), CAPTIONED) in rec.events or rec.events, "the new file")
    finally:
        watcher.stop()
        thread.join(timeout=30)
        indexer.store.close()
    # The start-up scan, then one run for the new file: each opens with its own total.
    totals = [e for e in rec.events if e[0] == "total"]
    assert totals[0] == ("total", 7) and ("total", 1) in totals[1:]


def test_no_module_of_the_indexer_imports_tqdm() -> None:
    """Drawing is a front end's job; the AST, not sys.modules, since transformers may pull tqdm in."""
    root = Path(picscribe.indexer.__file__).parent
    offenders = []
    for source in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            offenders += [f"{source.relative_to(root)}: {n}" for n in names if n.split(".")[0] == "tqdm"]
    assert len(list(root.rglob("*.py"))) > 10
    assert offenders == []


# -- the CLI's terminal bar -------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_progress_draws_nothing_unless_the_stream_is_a_terminal() -> None:
    with terminal_progress(stream=io.StringIO()) as progress:
        assert progress is None
    with terminal_progress(stream=_Terminal()) as progress:
        assert isinstance(progress, TerminalBar)


def test_terminal_bar_follows_a_real_run_to_its_total(
    home: Path, folder: Path, embedder: SentenceTransformerEmbedder
) -> None:
    screen = _Terminal()
    indexer = _indexer(home, embedder)
    with terminal_progress(stream=screen) as progress:
        indexer.index([folder], progress=progress)
        text = screen.getvalue()
        assert "7/7" in text and "indexing: 100%" in text and "failed=1" in text
        assert text.endswith("\n")  # closed once the total was reached, before the summary is said
        indexer.index([folder], progress=progress)  # nothing to read: no second bar
    indexer.store.close()
    assert screen.getvalue() == text


def test_cli_index_on_a_pipe_shows_no_bar(run: Run, folder: Path) -> None:
    result = run("index", str(folder), "--captioner", "fake")
    assert result.exit_code == 1  # the broken file
    assert "indexed: 7 found, 5 captioned, 1 reused" in result.stderr
    assert "img/s" not in result.stderr and "\r" not in result.stderr and "%|" not in result.stderr


@pytest.mark.slow  # a real pty and a `picscribe` subprocess: its imports alone take seconds
def test_cli_index_on_a_terminal_shows_the_bar_reaching_its_total(folder: Path, home: Path) -> None:
    """A real pseudo-terminal as the CLI's stderr, in a subprocess of its own."""
    primary, secondary = pty.openpty()
    # A fresh pty is 0 columns wide, where tqdm draws an empty bar.
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = {**os.environ, "PICSCRIBE_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "picscribe", "index", str(folder), "--captioner", "fake", "--json"],
        stdout=subprocess.PIPE,
        stderr=secondary,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
        env=env,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    stdout, _ = proc.communicate(timeout=300)
    os.close(primary)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 1, screen
    assert "indexing: 100%" in screen and "7/7" in screen, screen
    assert "indexed: 7 found" in screen
    assert b"indexing" not in stdout and stdout.lstrip().startswith(b"{")  # the bar stays off stdout


# -- the UI's counting adapter ------------------------------------------------------


def test_counting_progress_reaches_the_total_without_a_redraw_per_file() -> None:
    shown: list[tuple[int, int]] = []
    follower = CountingProgress(lambda done, total: shown.append((done, total)))
    follower.on_total(1000)
    for i in range(1000):
        follower.on_file(f"/p/{i}.jpg", CAPTIONED)
    assert shown[0] == (0, 1000) and shown[-1] == (1000, 1000)
    assert len(shown) == 101  # one per whole percent
    assert [d for d, _ in shown] == sorted(d for d, _ in shown)

    shown.clear()
    follower.on_total(3)
    for i in range(3):
        follower.on_file(f"/q/{i}.jpg", REUSED)
    assert shown == [(0, 3), (1, 3), (2, 3), (3, 3)]
