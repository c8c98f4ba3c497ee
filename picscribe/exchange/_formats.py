"""The file formats: writers that take plain rows a chunk at a time, and
readers that give them back a chunk at a time, each row with its number.

Parquet goes through pyarrow (one row group per chunk), JSONL through
``json``, CSV through ``csv`` with the nested columns as JSON text. ``txt``
is not a file of rows but a caption file per image (``_caption_files``); it
cannot be imported.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from ._schema import COLUMNS, NESTED, REQUIRED, VECTOR_COLUMN, arrow_schema, pyarrow_module

#: Formats of one file of rows, which ``import`` reads back.
ROW_FORMATS = ("parquet", "jsonl", "csv")
#: What ``export --format`` takes: the row formats, and txt (a caption file per image).
FORMATS = (*ROW_FORMATS, "txt")
#: What ``import`` reads, by file suffix.
IMPORT_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
#: Formats written as bytes (to a file, never to a terminal).
BINARY_FORMATS = frozenset({"parquet"})

#: One row read from a file: its number (from 1) and its plain values, or why it could not be read.
NumberedRow = tuple[int, dict[str, Any] | str]


class BadFile(ValueError):
    """A file that cannot be read (any further): not the format, truncated, missing columns."""


class RowWriter(Protocol):
    def write(self, rows: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


def columns(*, vectors: bool) -> list[str]:
    return [*COLUMNS, VECTOR_COLUMN] if vectors else list(COLUMNS)


# -- writing -------------------------------------------------------------------


class JsonlWriter:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, rows: list[dict[str, Any]]) -> None:
        self._stream.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))

    def close(self) -> None:
        self._stream.flush()


class CsvWriter:
    def __init__(self, stream: IO[str], *, vectors: bool) -> None:
        self._stream = stream
        self._writer = csv.DictWriter(stream, fieldnames=columns(vectors=vectors), lineterminator="\n")
        self._writer.writeheader()

    def write(self, rows: list[dict[str, Any]]) -> None:
        self._writer.writerows([_csv_cells(row) for row in rows])

    def close(self) -> None:
        self._stream.flush()


class ParquetWriter:
    def __init__(self, path: Path, *, vectors: bool, embedder: str) -> None:
        pa = pyarrow_module()
        schema = arrow_schema(vectors=vectors).with_metadata({"picscribe.embedder": embedder, "picscribe.version": "1"})
        self._pa = pa
        self._schema = schema
        self._writer = pa.parquet.ParquetWriter(str(path), schema, compression="zstd")

    def write(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._writer.write_table(self._pa.Table.from_pylist(rows, schema=self._schema))

    def close(self) -> None:
        self._writer.close()


def _csv_cells(row: dict[str, Any]) -> dict[str, Any]:
    cells = dict(row)
    for name in NESTED:
        if name in cells:
            cells[name] = json.dumps(cells[name], ensure_ascii=False)
    cells["human"] = "true" if row["human"] else "false"
    return {k: "" if v is None else v for k, v in cells.items()}


# -- reading -------------------------------------------------------------------


def read_rows(
    path: Path, fmt: str, chunk_size: int, only: tuple[str, ...] | None = None
) -> Iterator[list[NumberedRow]]:
    """The rows of ``path`` in chunks. A row that cannot be read is its
    error message, and reading goes on; BadFile when the file itself cannot
    be read further (rows already given stand). ``only``: the columns wanted,
    where the format can skip the others (Parquet)."""
    if fmt == "parquet":
        return _parquet_rows(path, chunk_size, only)
    if fmt == "jsonl":
        return _jsonl_rows(path, chunk_size)
    if fmt == "csv":
        return _csv_rows(path, chunk_size)
    raise BadFile(f"cannot import {fmt!r} files")


def _parquet_rows(path: Path, chunk_size: int, only: tuple[str, ...] | None) -> Iterator[list[NumberedRow]]:
    pa = pyarrow_module()
    try:
        parquet = pa.parquet.ParquetFile(str(path))
    except (pa.ArrowException, OSError) as exc:
        raise BadFile(f"not a readable Parquet file ({exc})") from exc
    with parquet:
        names = set(parquet.schema_arrow.names)
        _check_columns(names)
        wanted = [name for name in [*COLUMNS, VECTOR_COLUMN] if name in names and (only is None or name in only)]
        number = 0
        try:
            for batch in parquet.iter_batches(batch_size=chunk_size, columns=wanted):
                rows = _batch_rows(pa, batch)
                yield [(number + i + 1, row) for i, row in enumerate(rows)]
                number += len(rows)
        except (pa.ArrowException, OSError) as exc:
            raise BadFile(f"unreadable after row {number} ({exc})") from exc


def _batch_rows(pa: Any, batch: Any) -> list[dict[str, Any]]:
    """A record batch as dicts, the vector column as float32 arrays: a list
    of Python floats per row would cost more than the rest of the import."""
    if VECTOR_COLUMN not in batch.schema.names:
        return list(batch.to_pylist())
    column = batch.column(VECTOR_COLUMN)
    rows = batch.drop_columns([VECTOR_COLUMN]).to_pylist()
    if not pa.types.is_list(column.type) or not pa.types.is_floating(column.type.value_type):
        for row, value in zip(rows, column.to_pylist(), strict=True):
            row[VECTOR_COLUMN] = value
        return list(rows)
    offsets = column.offsets.to_numpy()
    values = column.values.to_numpy(zero_copy_only=False)
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    for i, row in enumerate(rows):
        row[VECTOR_COLUMN] = values[offsets[i] : offsets[i + 1]] if valid[i] else None
    return list(rows)


def _jsonl_rows(path: Path, chunk_size: int) -> Iterator[list[NumberedRow]]:
    chunk: list[NumberedRow] = []
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            chunk.append((number, _json_object(raw)))
            if len(chunk) >= chunk_size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _json_object(raw: bytes) -> dict[str, Any] | str:
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(value, dict):
        return "not a JSON object"
    return value


def _csv_rows(path: Path, chunk_size: int) -> Iterator[list[NumberedRow]]:
    chunk: list[NumberedRow] = []
    with path.open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        number = 0
        try:
            _check_columns(set(reader.fieldnames or ()))
            for number, cells in enumerate(reader, start=1):  # noqa: B007  (number is read after the loop)
                chunk.append((number, _typed_cells(cells)))
                if len(chunk) >= chunk_size:
                    yield chunk
                    chunk = []
        except (csv.Error, UnicodeDecodeError) as exc:
            raise BadFile(f"unreadable after row {number} ({exc})") from exc
    if chunk:
        yield chunk


def _typed_cells(cells: dict[str | Any, str | Any]) -> dict[str, Any] | str:
    """A CSV row (all text) with the types a JSONL row would have."""
    if None in cells:
        return "more cells than columns"
    values: dict[str, Any] = {k: (v if v != "" else None) for k, v in cells.items()}
    for name in ("size", "mtime_ns", "width", "height"):
        text = values.get(name)
        if text is not None:
            if not text.isdigit():
                return f"{name} is {text!r}, not a whole number >= 0"
            values[name] = int(text)
    human = values.get("human")
    if human is not None:
        if human.lower() not in ("true", "false", "1", "0"):
            return f"human is {human!r}, not true or false"
        values["human"] = human.lower() in ("true", "1")
    for name in NESTED:
        text = values.get(name)
        if text is not None:
            try:
                values[name] = json.loads(text)
            except json.JSONDecodeError as exc:
                return f"{name} is not JSON ({exc.msg})"
    return values


def _check_columns(names: set[str]) -> None:
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise BadFile(f"missing column(s) {', '.join(missing)}")
