"""``write-metadata``: the index's captions, tags and alt text written out to XMP sidecars.

The store decides what is said about each image; ``indexer.xmp_write``
decides how it merges into a sidecar that may already hold someone's work.
Only sidecars for now: writing into the image file (exiftool) is not done.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from picscribe.indexer import TASK_ALT_TEXT, TASK_CAPTION, TASK_DETAILED
from picscribe.indexer.xmp_write import SidecarContent, merge_sidecar, read_existing, sidecar_target, write_atomically
from picscribe.store import ImageDetail, Store, StoredCaption

#: What ``--fields`` accepts, and its default: all of them.
METADATA_FIELDS = ("caption", "detailed", "alt_text", "tags")


@dataclass
class WriteMetadataReport:
    """Sidecar paths by outcome; a path can be both written and skipped (one field left alone)."""

    dry_run: bool = False
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: (path, why): a field holding someone else's text, or an image with nothing to write.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: (path, error): the sidecar could not be read, parsed or written; it was not touched.
    failed: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "written": self.written,
            "unchanged": self.unchanged,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "failed": [{"path": p, "error": e} for p, e in self.failed],
        }


def write_metadata(
    store: Store,
    paths: Iterable[str | os.PathLike[str]] = (),
    fields: Sequence[str] = METADATA_FIELDS,
    *,
    dry_run: bool = False,
    on_file: Callable[[str], None] | None = None,
) -> WriteMetadataReport:
    """Write or merge the sidecar of every ok image under ``paths`` (all when empty).

    ``on_file(path)`` is called after each image, for a progress bar.
    """
    unknown = [f for f in fields if f not in METADATA_FIELDS]
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}; choose from {', '.join(METADATA_FIELDS)}")
    roots = [os.path.abspath(os.fspath(p)).rstrip(os.sep) or os.sep for p in paths]
    report = WriteMetadataReport(dry_run=dry_run)
    written_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    for image in store.ok_paths():
        if roots and not any(image == r or image.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
            continue
        _write_one(store, image, set(fields), written_at, report)
        if on_file is not None:
            on_file(image)
    return report


def _write_one(store: Store, image: str, fields: set[str], written_at: str, report: WriteMetadataReport) -> None:
    detail = store.image_detail(image)
    content = _content(detail, fields) if detail is not None else None
    target = sidecar_target(image)
    if content is None:
        report.skipped.append((target, f"{image} has no caption in the index"))
        return
    try:
        existing = read_existing(target)
        merged = merge_sidecar(existing, os.path.basename(target), content, written_at)
    except ValueError as exc:
        report.failed.append((target, f"{exc}; not touched"))
        return
    report.skipped.extend((target, reason) for reason in merged.skipped)
    if merged.data is None:
        report.unchanged.append(target)
        return
    if not report.dry_run:
        try:
            write_atomically(target, merged.data)
        except OSError as exc:
            report.failed.append((target, f"cannot write: {exc.strerror or exc}"))
            return
    report.written.append(target)


def _content(detail: ImageDetail, fields: set[str]) -> SidecarContent | None:
    current = detail.current
    if current is None:
        return None
    caption = current if current.task == TASK_CAPTION else _best(detail, TASK_CAPTION)
    detailed = _best(detail, TASK_DETAILED)
    alt_text = _best(detail, TASK_ALT_TEXT)
    source = caption or current
    keywords = (*current.tags, *(label for label, _count in current.objects))
    return SidecarContent(
        description=caption.text if caption is not None and "caption" in fields else None,
        extended_description=detailed.text if detailed is not None and "detailed" in fields else None,
        alt_text=alt_text.text if alt_text is not None and "alt_text" in fields else None,
        keywords=tuple(dict.fromkeys(keywords)) if "tags" in fields else None,
        captioner=source.captioner,
        model=source.model_id,
        generated=not source.human,
    )


def _best(detail: ImageDetail, task: str) -> StoredCaption | None:
    """The text for ``task``: a person's first, else the newest (captions come newest first)."""
    of_task = [c for c in detail.captions if c.task == task and c.text.strip()]
    return next((c for c in of_task if c.human), of_task[0] if of_task else None)
