"""``picscribe export``: stream the index's rows into a file (or a text stream).

``--format txt`` writes a caption file per image instead: ``_caption_files``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from picscribe.store import Store, process_umask

from ._formats import BINARY_FORMATS, ROW_FORMATS, CsvWriter, JsonlWriter, ParquetWriter, RowWriter
from ._schema import to_plain

#: Rows read from SQLite and written at once: one Parquet row group.
EXPORT_CHUNK = 2000


class ExportError(ValueError):
    """The export cannot be made as asked (an unknown format, Parquet to a text stream, txt to one file)."""


@dataclass(frozen=True)
class ExportReport:
    format: str
    #: The file written; None for a stream.
    out: str | None
    rows: int
    vectors: bool
    embedder: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def export_store(
    store: Store, out: Path | IO[str], fmt: str, *, vectors: bool = False, chunk_size: int = EXPORT_CHUNK
) -> ExportReport:
    """Write every ok image of ``store`` with its searched caption to ``out``.

    A path is written to a temporary file beside it and moved into place
    when complete, so a reader (or a crash) never sees half an export.
    """
    if fmt == "txt":
        raise ExportError("txt is a caption file per image, not one file of rows: use export_caption_files")
    if fmt not in ROW_FORMATS:
        raise ExportError(f"unknown format {fmt!r}; known: {', '.join(ROW_FORMATS)}")
    embedder = store.embedder_name
    if not isinstance(out, Path):
        if fmt in BINARY_FORMATS:
            raise ExportError(f"--format {fmt} writes a binary file: name it with --out")
        rows = _write_all(store, _writer(fmt, out, None, vectors, embedder), vectors, chunk_size, embedder)
        return ExportReport(fmt, None, rows, vectors, embedder)
    out = out.expanduser().absolute()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            writer = _writer(fmt, stream, tmp, vectors, embedder)
            rows = _write_all(store, writer, vectors, chunk_size, embedder)
        os.chmod(tmp, 0o666 & ~process_umask())  # mkstemp makes 0600 files
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ExportReport(fmt, str(out), rows, vectors, embedder)


def _writer(fmt: str, stream: IO[str], path: Path | None, vectors: bool, embedder: str | None) -> RowWriter:
    if fmt == "parquet":
        assert path is not None
        return ParquetWriter(path, vectors=vectors, embedder=embedder or "")
    if fmt == "csv":
        return CsvWriter(stream, vectors=vectors)
    return JsonlWriter(stream)


def _write_all(store: Store, writer: RowWriter, vectors: bool, chunk_size: int, embedder: str | None) -> int:
    rows = 0
    try:
        for chunk in store.export_rows(chunk_size, vectors=vectors):
            writer.write([to_plain(row, embedder or "") for row in chunk])
            rows += len(chunk)
    finally:
        writer.close()
    return rows
