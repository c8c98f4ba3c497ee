"""How long a running watcher takes to catch up with a burst of new files.

Usage: .venv/bin/python bench/watch_burst.py [--files 2000] [--debounce 1.0] [--batch-size 8]

Starts a Watcher (real watchdog observer, real SQLite + FAISS, the
FakeCaptioner, the default embedder) on an empty temp folder, writes FILES
tiny unique JPEGs as fast as it can, and times the moment the index matches
the disk (every file indexed, searchable, nothing queued). Then prints where
that time went. Rows overlap (the first batches run while files are still
being written), so shares need not add up to 100%. The embedder is loaded before the clock starts. Machines
here are shared and noisy: compare rows of one run, not across runs.
"""

from __future__ import annotations

import argparse
import io
import sqlite3
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from picscribe.indexer import FakeCaptioner, Indexer, IndexOptions  # noqa: E402
from picscribe.indexer.watch import BatchReport, Watcher, WatchOptions  # noqa: E402
from picscribe.search import SentenceTransformerEmbedder  # noqa: E402
from picscribe.store import Store  # noqa: E402

spent: dict[str, float] = defaultdict(float)


def timing(owner: Any, name: str, label: str) -> None:
    """Wrap ``owner.name`` so that the seconds spent in it add up under ``label``."""
    inner: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - started

    setattr(owner, name, wrapper)


def jpeg(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256)).save(
        buf, "JPEG", comment=f"burst {i}".encode()
    )
    return buf.getvalue()


def indexed_ok(db_path: Path) -> int:
    with sqlite3.connect(db_path) as db:
        return db.execute("SELECT count(*) FROM images WHERE status = 'ok'").fetchone()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--debounce", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="picscribe-watch-bench-"))
    library, home = work / "library", work / "home"
    library.mkdir()
    payloads = [jpeg(i) for i in range(args.files)]

    embedder = SentenceTransformerEmbedder(cache_dir=Path(tempfile.gettempdir()) / "picscribe-bench-cache")
    embedder.embed(["load the model before the clock starts"])
    store = Store.open(home)
    indexer = Indexer(store, FakeCaptioner(), embedder, IndexOptions(batch_size=args.batch_size))
    batches: list[tuple[float, BatchReport]] = []
    watcher = Watcher(
        indexer,
        [library],
        WatchOptions(debounce=args.debounce, reconcile_every=0),
        on_batch=lambda r: batches.append((time.perf_counter(), r)),
    )
    timing(embedder, "embed", "embed captions (MiniLM, CPU)")
    timing(FakeCaptioner, "caption", "caption (FakeCaptioner)")
    timing(store, "write_batch", "SQLite write_batch")
    timing(store, "move_paths", "SQLite move_paths")
    timing(store, "remove_paths", "SQLite remove_paths")
    timing(store, "flush", "FAISS file write (flush)")
    timing(store, "hashes_with_current_caption", "SQLite known-hash lookup")
    timing(store, "file_states_at", "SQLite file_states_at")
    timing(Indexer, "update", "Indexer.update (total)")
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    while not batches:  # the start-up reconciliation of the empty folder
        time.sleep(0.01)
    spent.clear()

    started = time.perf_counter()
    for i, data in enumerate(payloads):
        (library / f"photo {i:05d}.jpg").write_bytes(data)
    written = time.perf_counter()
    while indexed_ok(home / "index.sqlite") < args.files or watcher.queue_length:
        time.sleep(0.02)
    done = time.perf_counter()
    event_batches = [(t, r) for t, r in batches if r.kind == "events" and t >= started]
    first_batch = min((t - r.report.seconds for t, r in event_batches), default=done)
    watcher.stop()
    thread.join(timeout=60)
    with Store.open(home) as check:
        searchable, vectors = check.status().searchable, len(check.vector_index())
    store.close()
    assert searchable == vectors == args.files, (searchable, vectors)

    total = done - started
    rows: list[tuple[str, float]] = [
        ("burst: writing the files (events queue meanwhile)", written - started),
        ("first batch began (debounce; overlaps the burst)", first_batch - started),
    ]
    update = spent.pop("Indexer.update (total)", 0.0)
    inside = {k: v for k, v in spent.items() if not k.startswith(("FAISS", "SQLite move"))}
    for label, seconds in sorted(inside.items(), key=lambda kv: -kv[1]):
        rows.append(("  " + label, seconds))
    rows.append(("  read, hash, decode, loop (rest of Indexer.update)", update - sum(inside.values())))
    rows.append(("FAISS file write (flush)", spent.get("FAISS file write (flush)", 0.0)))
    print(
        f"{args.files} files, debounce {args.debounce}s, batch size {args.batch_size}, "
        f"{len(event_batches)} event batches; {searchable} searchable, {vectors} vectors in FAISS"
    )
    print(f"{'where the time went':<55} {'seconds':>8} {'share':>6}")
    for label, seconds in rows:
        print(f"{label:<55} {seconds:>8.2f} {seconds / total:>6.0%}")
    print(f"{'Indexer.update, all batches':<55} {update:>8.2f} {update / total:>6.0%}")
    print(f"{'burst start -> index matches disk':<55} {total:>8.2f} {1:>6.0%}")
    print(f"{'files per second':<55} {args.files / total:>8.0f}")


if __name__ == "__main__":
    main()
