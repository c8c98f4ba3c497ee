"""``write-metadata``: the index's captions, tags and alt text written out to XMP
sidecars, or into the image files themselves.

The store decides what is said about each image; ``indexer.xmp_write``
decides how it merges into XMP that may already hold someone's work, and
``indexer.exiftool_write`` puts it inside the file (the MWG description
fields: XMP dc:description, EXIF ImageDescription, and IPTC Caption-Abstract
where the file already has IPTC). A file written into has new bytes but the
same pixels: the store moves its row and captions to the new bytes at once
(``Store.record_rewritten``), so the next ``index`` captions nothing.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from picscribe.indexer import TASK_ALT_TEXT, TASK_CAPTION, TASK_DETAILED
from picscribe.indexer.captioners.sidecar import is_camera_placeholder
from picscribe.indexer.exiftool_write import (
    EmbeddedText,
    EmbeddedUpdate,
    EmbedError,
    exiftool_command,
    read_embedded,
    write_embedded,
)
from picscribe.indexer.xmp_write import (
    SidecarContent,
    merge_sidecar,
    picscribe_wrote,
    read_existing,
    sidecar_target,
    write_atomically,
)
from picscribe.store import ImageDetail, Store, StoredCaption

from .metadata_fields import METADATA_FIELDS, METADATA_TARGETS


@dataclass
class WriteMetadataReport:
    """Paths by outcome (sidecars, or with --to file the images); a path can be
    both written and skipped (one field left alone)."""

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
    to: str = "sidecar",
) -> WriteMetadataReport:
    """Write or merge the sidecar of every ok image under ``paths`` (all when
    empty), or with ``to="file"`` the image files themselves.

    ``on_file(path)`` is called after each image, for a progress bar. With
    ``to="file"``, ExiftoolMissing is raised before any file when exiftool
    is not installed.
    """
    unknown = [f for f in fields if f not in METADATA_FIELDS]
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}; choose from {', '.join(METADATA_FIELDS)}")
    if to not in METADATA_TARGETS:
        raise ValueError(f"cannot write to {to!r}; choose from {', '.join(METADATA_TARGETS)}")
    if to == "file":
        exiftool_command()
    roots = [os.path.abspath(os.fspath(p)).rstrip(os.sep) or os.sep for p in paths]
    report = WriteMetadataReport(dry_run=dry_run)
    written_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    for image in store.ok_paths():
        if roots and not any(image == r or image.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
            continue
        write_one = _write_into_file if to == "file" else _write_one
        write_one(store, image, set(fields), written_at, report)
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


def _write_into_file(store: Store, image: str, fields: set[str], written_at: str, report: WriteMetadataReport) -> None:
    detail = store.image_detail(image)
    content = _content(detail, fields) if detail is not None else None
    if content is None:
        report.skipped.append((image, "it has no caption in the index"))
        return
    try:
        embedded = read_embedded(image)
        update, skipped = _file_update(image, embedded, content, written_at)
    except (EmbedError, ValueError) as exc:
        report.failed.append((image, f"{exc}; not touched"))
        return
    report.skipped.extend((image, reason) for reason in skipped)
    if not update:
        report.unchanged.append(image)
        return
    if not report.dry_run:
        try:
            write_embedded(image, update)
            st = os.stat(image)
            with open(image, "rb") as f:
                new_hash = hashlib.file_digest(f, "sha256").hexdigest()
        except (EmbedError, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            report.failed.append((image, f"{reason}; not touched"))
            return
        store.record_rewritten(image, new_hash, st.st_size, st.st_mtime_ns)
    report.written.append(image)


def _file_update(
    image: str, embedded: EmbeddedText, content: SidecarContent, written_at: str
) -> tuple[EmbeddedUpdate, list[str]]:
    """What to write into the file, and what is left alone and why.

    The description has up to three homes in a file (MWG): XMP
    dc:description, EXIF ImageDescription, IPTC Caption-Abstract. Each may be
    written only when it is empty, a camera's default text, or text
    picscribe wrote before (the XMP records its hash). If any of them holds
    someone else's text, the caption is written to none of them, so that the
    three never disagree about whose words the photo carries. The other
    fields (alt text, keywords, provenance) merge into the XMP as in a sidecar.
    """
    name = f"{os.path.basename(image)} (its XMP)"
    text = content.description
    skipped: list[str] = []
    homes = [("EXIF ImageDescription", embedded.image_description)]
    if embedded.has_iptc:
        homes.append(("IPTC Caption-Abstract", embedded.iptc_caption))

    def theirs(current: str) -> bool:
        if not current.strip() or is_camera_placeholder(current) or text is not None and _same(current, text):
            return False
        return not picscribe_wrote(embedded.xmp, name, current)

    foreign = [label for label, current in homes if theirs(current)]
    if text is not None and foreign:
        skipped += [f"{label} holds text picscribe did not write; the caption is not written" for label in foreign]
        content = replace(content, description=None)
    merged = merge_sidecar(embedded.xmp, name, content, written_at)
    skipped += merged.skipped
    if text is None or foreign or any(reason.startswith("dc:description") for reason in merged.skipped):
        return EmbeddedUpdate(xmp=merged.data), skipped
    copies = {label: None if _same(current, text) else text for label, current in homes}
    update = EmbeddedUpdate(
        xmp=merged.data,
        image_description=copies["EXIF ImageDescription"],
        iptc_caption=copies.get("IPTC Caption-Abstract"),
    )
    return update, skipped


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


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
