"""Index a folder from the UI in one run of the indexer, a progress bar following it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from picscribe.indexer import Indexer, IndexReport
from picscribe.indexer.registry import AUTO, available_backends

from .safe_paths import inside_roots


def captioner_choices(configured: str) -> list[str]:
    """What the Index form offers: the configured captioner first, then every
    registered backend by name. A browser picks one; it never names a model,
    a local folder or an endpoint of its own."""
    return list(dict.fromkeys([configured, AUTO, *sorted(available_backends())]))


def may_index(folder: Path, roots: tuple[str, ...], *, anywhere: bool) -> bool:
    """The UI indexes only inside the library's (resolved) roots, unless the
    server was started with ``--allow-index-anywhere``."""
    return anywhere or inside_roots(str(folder), roots)


class CountingProgress:
    """Turns the indexer's events into (done, total) for a bar.

    A front end that redraws over a network (Streamlit sends every update
    to the browser) hears about each whole percent, not each file.
    """

    def __init__(self, show: Callable[[int, int], None]) -> None:
        self._show = show
        self.done = 0
        self.total = 0
        self._shown_percent = -1

    def on_total(self, total: int) -> None:
        self.done, self.total = 0, total
        self._shown_percent = 0
        self._show(0, total)

    def on_file(self, path: str, outcome: str) -> None:
        self.done += 1
        percent = self.done * 100 // self.total if self.total else 100
        if percent != self._shown_percent or self.done == self.total:
            self._shown_percent = percent
            self._show(self.done, self.total)

    def on_batch(self, report: IndexReport) -> None:
        pass


def index_folder(
    indexer: Indexer, folder: Path, on_progress: Callable[[int, int], None] = lambda done, total: None
) -> IndexReport:
    """What ``picscribe index FOLDER`` does, in one run of the indexer,
    reporting (done, total) files to read as it goes."""
    return indexer.index([folder.expanduser().absolute()], progress=CountingProgress(on_progress))


def summary(report: IndexReport) -> str:
    parts = [f"{report.captioned} captioned", f"{report.reused} reused", f"{report.unchanged} unchanged"]
    if report.removed:
        parts.append(f"{report.removed} removed")
    parts.append(f"{len(report.failures)} failed")
    text = ", ".join(parts)
    return f"{text}. Stopped: {report.stopped}" if report.stopped else text
