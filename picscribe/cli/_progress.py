"""The indexer's progress events drawn as a tqdm bar on stderr, when stderr is a terminal.

The pipeline only reports events (picscribe.indexer.Progress); drawing is a
front end's job. The CLI contract: progress goes to stderr, and only when
stderr is a terminal, so piped or captured output never holds a bar.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from tqdm import tqdm

from picscribe.indexer import IndexReport, Progress


class TerminalBar:
    """One bar per run: a watcher runs many, each with its own total."""

    def __init__(self, stream: TextIO, desc: str = "indexing") -> None:
        self._stream = stream
        self._desc = desc
        self._bar: tqdm | None = None

    def on_total(self, total: int) -> None:
        self.close()  # a run the captioner stopped never reached its total
        if total:
            self._bar = tqdm(total=total, unit="img", desc=self._desc, file=self._stream)

    def on_file(self, path: str, outcome: str) -> None:
        if self._bar is None:
            return
        self._bar.update(1)
        if self._bar.n >= (self._bar.total or 0):
            # Closed at once, so the summary lines said next start on a line of their own.
            self.close()

    def on_batch(self, report: IndexReport) -> None:
        if self._bar is not None and report.failed:
            self._bar.set_postfix(failed=report.failed, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@contextmanager
def terminal_progress(desc: str = "indexing", stream: TextIO | None = None) -> Iterator[Progress | None]:
    """A bar on ``stream`` (default: stderr) if it is a terminal, else None: nothing is drawn."""
    out = stream if stream is not None else sys.stderr
    if not out.isatty():
        yield None
        return
    bar = TerminalBar(out, desc)
    try:
        yield bar
    finally:
        bar.close()
