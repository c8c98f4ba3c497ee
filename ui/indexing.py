"""Index a folder from the UI, a few files at a time, so a progress bar can follow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from picscribe.indexer import Indexer, IndexReport
from picscribe.indexer.registry import AUTO, available_backends
from picscribe.indexer.scan import scan

from .safe_paths import inside_roots

#: Files per step: small enough that the bar moves, big enough to batch the captioner.
STEP = 16


def captioner_choices(configured: str) -> list[str]:
    """What the Index form offers: the configured captioner first, then every
    registered backend by name. A browser picks one; it never names a model,
    a local folder or an endpoint of its own."""
    return list(dict.fromkeys([configured, AUTO, *sorted(available_backends())]))


def may_index(folder: Path, roots: tuple[str, ...], *, anywhere: bool) -> bool:
    """The UI indexes only inside the library's (resolved) roots, unless the
    server was started with ``--allow-index-anywhere``."""
    return anywhere or inside_roots(str(folder), roots)


def index_folder(
    indexer: Indexer, folder: Path, on_progress: Callable[[int, int], None] = lambda done, total: None, step: int = STEP
) -> IndexReport:
    """What ``picscribe index FOLDER`` does, reporting (done, total) files as
    it goes. The report adds up the steps; ``scanned`` is the total."""
    folder = folder.expanduser().absolute()
    paths = [e.path for e in scan([folder]).files]
    total = IndexReport(indexer.captioner.name, indexer.captioner.model_id, scanned=len(paths))
    on_progress(0, len(paths))
    for start in range(0, len(paths), step):
        _add(total, indexer.update(paths[start : start + step]))
        on_progress(min(start + step, len(paths)), len(paths))
        if total.stopped:
            total.complete = False
            return total
    # A last full pass forgets files that are gone; everything else is unchanged by now.
    final = indexer.index([folder])
    total.removed += final.removed
    total.failures.extend(f for f in final.failures if f not in total.failures)
    total.stopped, total.complete = final.stopped, final.complete
    return total


def _add(total: IndexReport, step: IndexReport) -> None:
    total.captioned += step.captioned
    total.reused += step.reused
    total.unchanged += step.unchanged
    total.removed += step.removed
    total.failures.extend(step.failures)
    total.stopped = total.stopped or step.stopped


def summary(report: IndexReport) -> str:
    parts = [f"{report.captioned} captioned", f"{report.reused} reused", f"{report.unchanged} unchanged"]
    if report.removed:
        parts.append(f"{report.removed} removed")
    parts.append(f"{len(report.failures)} failed")
    text = ", ".join(parts)
    return f"{text}. Stopped: {report.stopped}" if report.stopped else text
