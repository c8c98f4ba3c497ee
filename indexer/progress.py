"""What an indexing run tells whoever follows it, as it goes.

The pipeline draws nothing itself. The CLI shows a tqdm bar on a terminal,
the web UI a Streamlit bar, a library user whatever they like: each adapts
these events, and all of them follow one and the same run of ``Indexer``.

Events arrive on the thread that called ``index()``, ``update()`` or
``reindex()`` (decoding runs on a pool, but its results are handed back to
that thread), so a front end that must draw from its own thread can.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .pipeline import IndexReport

#: Outcomes ``on_file`` reports, each once per file, after the transaction that wrote it.
CAPTIONED = "captioned"
#: Content the index already had a caption for (a moved or duplicated file).
REUSED = "reused"
#: Could not be read, decoded or captioned; the report says why.
FAILED = "failed"
#: Not captioned because the captioner stopped the run; the next run picks it up.
PENDING = "pending"

OUTCOMES = (CAPTIONED, REUSED, FAILED, PENDING)


class Progress(Protocol):
    def on_total(self, total: int) -> None:
        """Files this run will read: those found, less the ones unchanged since they were indexed.

        Called once per run, before any ``on_file``, also when ``total`` is 0.
        """

    def on_file(self, path: str, outcome: str) -> None:
        """One file is settled and committed; ``outcome`` is one of ``OUTCOMES``.

        Files settle batch by batch, so they need not arrive in scan order.
        A run the captioner stopped reports fewer than ``total`` files.
        """

    def on_batch(self, report: IndexReport) -> None:
        """A transaction committed; ``report`` holds the run's counts so far (read it, don't keep it)."""


class NoProgress:
    """Follows nothing: what a run reports to when nobody asked."""

    def on_total(self, total: int) -> None:
        pass

    def on_file(self, path: str, outcome: str) -> None:
        pass

    def on_batch(self, report: IndexReport) -> None:
        pass
