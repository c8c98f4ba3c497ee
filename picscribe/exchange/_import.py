"""``picscribe import``: merge exported rows into an index, keyed by content hash.

Rows go through the store's one write path (``Store.write_batch``), one
transaction per chunk. Before writing, each chunk is compared with what the
index holds, and only what differs is written, so importing a file twice
changes nothing (not even the generation). The index's own rows win where
they disagree with a file:

- a path the index has indexed ok keeps its row (it reflects this disk);
  a path it does not know, or knows as failed, gets the file's row;
- human text is never overwritten: a generated caption for content with
  human text is stored beside it and search keeps the human text (the
  caption-choice rule), and a caption row that is human here is never
  replaced by the file's. A row's ``detailed`` and ``alt_text`` are
  captions of those tasks by the row's captioner and model, merged by the
  same rules;
- a vector made by another embedder than the index's is refused before
  anything is written (``EmbedderMismatch``); rows without one are embedded
  here with the index's embedder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from picscribe.store import CaptionRecord, ImageRecord, Store, TextEmbedder

from ._formats import IMPORT_SUFFIXES, BadFile, read_rows
from ._schema import VECTOR_COLUMN, BadRow, ImportRow, from_plain, takes_caption_vector

IMPORT_CHUNK = 1000


class EmbedderMismatch(ValueError):
    """A file holds vectors from another embedder than the index's: nothing was imported."""


@dataclass
class ImportReport:
    files: int = 0
    rows: int = 0
    #: Image rows written: paths this index did not have (or had as failed).
    images_added: int = 0
    #: Caption rows written, of any task (caption, detailed, alt_text): new, or changed since the last import.
    captions_written: int = 0
    #: Rows that changed nothing: the index already had them.
    unchanged: int = 0
    #: Caption rows (of any task) not written because this index has human text in their place.
    human_kept: int = 0
    #: Rows not written because this index has other content at that path and none with that hash.
    kept_local: int = 0
    failed_rows: int = 0
    #: (file, row number or None for the whole file, why).
    errors: list[tuple[str, int | None, str]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "errors"}
        d["failed_files"] = len({f for f, row, _ in self.errors if row is None})
        d["errors"] = [{"file": f, "row": row, "error": e} for f, row, e in self.errors]
        return d


def import_files(
    store: Store,
    embedder: TextEmbedder,
    paths: Iterable[str | os.PathLike[str]],
    *,
    path_map: Sequence[tuple[str, str]] = (),
    chunk_size: int = IMPORT_CHUNK,
) -> ImportReport:
    """Merge the rows of files (or folders of them, searched recursively) into ``store``.

    ``path_map``: (old, new) folder prefixes; a row's path under ``old`` is
    imported under ``new`` instead (the first that matches), for rows
    written where the photos are mounted elsewhere.
    """
    for old, new in path_map:
        if not (old.startswith("/") and new.startswith("/")):
            raise ValueError(f"--map-path {old}={new}: both folders must be absolute")
    report = ImportReport()
    files = _expand(paths, report)
    _refuse_other_embedders(files, store.embedder_name or embedder.name)
    for path, fmt in files:
        report.files += 1
        merger = _Merger(store, embedder, report, str(path), path_map)
        try:
            for chunk in read_rows(path, fmt, chunk_size):
                merger.merge(chunk)
        except (BadFile, OSError, ModuleNotFoundError) as exc:
            report.errors.append((str(path), None, _reason(exc)))
    store.flush()
    return report


def _expand(paths: Iterable[str | os.PathLike[str]], report: ImportReport) -> list[tuple[Path, str]]:
    """Each file with its format; a folder gives every importable file under it, in name order."""
    files: list[tuple[Path, str]] = []
    for given in paths:
        path = Path(given).expanduser().absolute()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMPORT_SUFFIXES and p.is_file())
            if not found:
                report.errors.append((str(path), None, f"no {'/'.join(sorted(IMPORT_SUFFIXES))} files in this folder"))
            files += [(p, IMPORT_SUFFIXES[p.suffix.lower()]) for p in found]
        elif not path.exists():
            report.errors.append((str(path), None, "no such file"))
        elif path.suffix.lower() not in IMPORT_SUFFIXES:
            report.errors.append((str(path), None, f"not an importable file (use {', '.join(IMPORT_SUFFIXES)})"))
        else:
            files.append((path, IMPORT_SUFFIXES[path.suffix.lower()]))
    return files


def _refuse_other_embedders(files: Sequence[tuple[Path, str]], ours: str) -> None:
    """Read every file once for the embedders of its vectors; any other than ``ours`` stops the import.

    A whole pass first, so that a refused import has written nothing. Files
    that cannot be read are left to the import itself to report.
    """
    for path, fmt in files:
        try:
            for chunk in read_rows(path, fmt, IMPORT_CHUNK, only=("embedder", VECTOR_COLUMN)):
                for number, values in chunk:
                    if isinstance(values, dict) and values.get(VECTOR_COLUMN) is not None:
                        theirs = values.get("embedder")
                        if theirs != ours:
                            raise EmbedderMismatch(
                                f"{path}: row {number} has a vector from embedder {theirs!r}, but this index "
                                f"uses {ours!r}; import into a home with that embedder, or export without "
                                "--with-vectors (rows without vectors are embedded on import)"
                            )
        except (BadFile, OSError, ModuleNotFoundError):
            continue


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


class _Merger:
    """Merges one file's chunks, one transaction each."""

    def __init__(
        self, store: Store, embedder: TextEmbedder, report: ImportReport, file: str, path_map: Sequence[tuple[str, str]]
    ) -> None:
        self._path_map = [(old.rstrip("/") or "/", new.rstrip("/") or "/") for old, new in path_map]
        self._store = store
        self._embedder = embedder
        self._report = report
        self._file = file

    def merge(self, chunk: Sequence[tuple[int, dict[str, Any] | str]]) -> None:
        report = self._report
        rows: list[tuple[int, ImportRow]] = []
        for number, values in chunk:
            report.rows += 1
            try:
                if isinstance(values, str):
                    raise BadRow(values)
                rows.append((number, from_plain(self._mapped(values))))
            except BadRow as exc:
                self._row_failed(number, str(exc))
        rows = self._check_vector_sizes(rows)
        if rows:
            self._write(rows)

    def _mapped(self, values: dict[str, Any]) -> dict[str, Any]:
        path = values.get("path")
        if isinstance(path, str):
            for old, new in self._path_map:
                mapped = _under(path, old, new)
                if mapped is not None:
                    return dict(values, path=mapped)
        return values

    def _row_failed(self, number: int, why: str) -> None:
        self._report.failed_rows += 1
        self._report.errors.append((self._file, number, why))

    def _check_vector_sizes(self, rows: list[tuple[int, ImportRow]]) -> list[tuple[int, ImportRow]]:
        dim_text = self._store.meta("dim")
        dim = int(dim_text) if dim_text else next((len(r.vector) for _, r in rows if r.vector is not None), None)
        kept = []
        for number, row in rows:
            if row.vector is not None and len(row.vector) != dim:
                self._row_failed(number, f"vector has {len(row.vector)} values; this index's embedder makes {dim}")
            else:
                kept.append((number, row))
        return kept

    def _write(self, rows: list[tuple[int, ImportRow]]) -> None:
        store, report = self._store, self._report
        states = store.file_states_at(r.image.path for _, r in rows)
        # The last row for a path wins, as in a batch from the indexer.
        images: dict[str, ImageRecord] = {}
        for _, row in rows:
            state = states.get(row.image.path)
            if state is None or state.status != "ok":
                images[row.image.path] = row.image
        live = set(store.ok_paths_of({r.image.content_hash for _, r in rows})) | {
            i.content_hash for i in images.values()
        }
        stored = store.captions_by_key(_key(c) for _, r in rows for c in r.records)
        captions: dict[tuple[str, str, str, str], tuple[ImportRow, CaptionRecord]] = {}
        for _, row in rows:
            if row.image.content_hash not in live:
                report.kept_local += 1
                continue
            changed = images.get(row.image.path) is row.image
            for record in _differing(row, stored):
                key = _key(record)
                before = stored.get(key)
                if before is not None and before.human and not _same(before, record, None):
                    report.human_kept += 1
                    changed = True
                elif key not in captions:
                    captions[key] = (row, record)
                    report.captions_written += 1
                    changed = True
            if not changed:
                report.unchanged += 1
        report.images_added += len(images)
        if captions or images:
            records = self._with_vectors(list(captions.values()))
            store.write_batch(images=list(images.values()), captions=records)

    def _with_vectors(self, pending: list[tuple[ImportRow, CaptionRecord]]) -> list[CaptionRecord]:
        """The captions to write; each that takes its row's caption vector
        gets it: the file's, or one embedded here."""
        if not pending:
            return []
        if self._store.embedder_name is None:
            first = next((r.vector for r, _ in pending if r.vector is not None), None)
            self._store.bind_embedder(self._embedder.name, len(first) if first is not None else self._embedder.dim)
        # Embedded exactly as the indexer embeds a caption (its description, the text read in the image).
        need = list({id(r): r for r, c in pending if r.vector is None and takes_caption_vector(c)}.values())
        vectors: dict[int, np.ndarray] = {}
        if need:
            embedded = self._embedder.embed([r.embedding_text() for r in need])
            vectors = {id(r): vec for r, vec in zip(need, embedded, strict=True)}
        out = []
        for row, record in pending:
            if takes_caption_vector(record):
                record = replace(record, vector=row.vector if row.vector is not None else vectors[id(row)])
            out.append(record)
        return out


def _under(path: str, old: str, new: str) -> str | None:
    """``path`` moved from folder ``old`` to folder ``new`` (both without a
    trailing slash, except "/"); None if it is not inside ``old``."""
    if path == old:
        return new
    prefix = old if old.endswith("/") else old + "/"
    if not path.startswith(prefix):
        return None
    return new.rstrip("/") + "/" + path[len(prefix) :]


def _key(caption: CaptionRecord) -> tuple[str, str, str, str]:
    return (caption.content_hash, caption.captioner, caption.model_id, caption.task)


def _differing(row: ImportRow, stored: Mapping[tuple[str, str, str, str], CaptionRecord]) -> list[CaptionRecord]:
    """The records of ``row`` whose writing would change what ``stored`` holds.

    A generated description is embedded in its caption's place (see
    ``takes_caption_vector``): when the file has no vector and one of them
    changes, the caption's vector is made again, so both are written.
    """

    def changes(record: CaptionRecord) -> bool:
        before = stored.get(_key(record))
        return before is None or not _same(before, record, row.vector if takes_caption_vector(record) else None)

    differing = [r for r in row.records if changes(r)]
    if row.vector is None and any(takes_caption_vector(r) for r in differing):
        return [r for r in row.records if takes_caption_vector(r) or any(r is d for d in differing)]
    return differing


def _same(stored: CaptionRecord, new: CaptionRecord, vector: np.ndarray | None) -> bool:
    """Whether writing ``new`` (with ``vector`` from the file, if any) would change nothing that ``stored`` holds."""
    if (stored.text, stored.ocr_text, stored.human) != (new.text, new.ocr_text, new.human):
        return False
    if sorted(stored.tags) != sorted(new.tags) or sorted(stored.objects) != sorted(new.objects):
        return False
    # No vector in the file: the index's would be made from the same text by the same embedder.
    return vector is None or bool(np.array_equal(stored.vector, vector))
