"""Give content indexed before picture hashes existed (schema 7) its picture hash.

The SQL migration cannot decode images, so content from an older index gets
its perceptual hash here, on first need (``picscribe duplicates``): one
decode per distinct content, on the decode thread pool, written in batches
of one transaction each. A stopped run keeps every finished batch and the
next run picks up only what is still missing: resumable by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from picscribe.store import Store

from .decode import DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE, DecodeError, Loaded, load
from .scan import FileEntry
from .stages import read_ahead

#: Hashes written per transaction: a stop loses at most this many decodes.
FILL_BATCH = 64


@dataclass
class FillReport:
    #: Content that needed a picture hash when the run began.
    missing: int = 0
    filled: int = 0
    #: (path, why) for content that could not be decoded now, or whose file
    #: changed since it was indexed (the next ``index`` reads it again).
    skipped: list[tuple[str, str]] = field(default_factory=list)


def fill_picture_hashes(
    store: Store,
    *,
    workers: int = 2,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int = DEFAULT_MAX_SIDE,
    on_progress: Callable[[int, int], None] | None = None,
) -> FillReport:
    """Decode each content that has no picture hash yet, once, and store its hash.

    ``on_progress(done, total)`` is called after each committed batch.
    """
    missing = store.contents_without_picture_hash()
    report = FillReport(missing=len(missing))
    if not missing:
        return report
    entries = [FileEntry(path, 0, 0) for path in missing.values()]
    expected = {path: content_hash for content_hash, path in missing.items()}
    done = 0
    pending: dict[str, bytes] = {}

    def decode(entry: FileEntry) -> Loaded:
        return load(entry, frozenset(), max_pixels=max_pixels, max_side=max_side)

    for entry, outcome in read_ahead(entries, decode, workers=workers, lookahead=max(workers, FILL_BATCH)):
        done += 1
        if isinstance(outcome, DecodeError):
            report.skipped.append((entry.path, str(outcome)))
        elif outcome.content_hash != expected[entry.path]:
            report.skipped.append((entry.path, "file changed since it was indexed; run `picscribe index` first"))
        elif outcome.picture_hash is not None:
            pending[outcome.content_hash] = outcome.picture_hash
        if len(pending) >= FILL_BATCH:
            store.write_picture_hashes(pending)
            report.filled += len(pending)
            pending = {}
            if on_progress is not None:
                on_progress(done, len(entries))
    store.write_picture_hashes(pending)
    report.filled += len(pending)
    if on_progress is not None:
        on_progress(done, len(entries))
    return report
