"""picscribe export / import."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..exchange import FORMATS
from ..library import EmbedderMismatch, ExportError, Library
from ._common import Context, emit_json, library_errors, pass_context, printable, say


@click.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True, help="File format.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="File to write (replaced whole when complete) [default: stdout; parquet needs --out].",
)
@click.option("--vectors", is_flag=True, help="Add each caption's vector (list of float32) from the index's embedder.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON on stdout (needs --out).")
@pass_context
@library_errors
def export(ctx: Context, fmt: str, out: Path | None, vectors: bool, as_json: bool) -> None:
    """Write one row per indexed image: path, sha256, caption, model, captioner,
    human flag, tags, objects, OCR text, taken_at, the file's size, mtime and
    shape, and the embedder (and with --vectors the vector)."""
    if out is None and fmt == "parquet":
        raise click.UsageError("--format parquet writes a binary file: name it with --out")
    if out is None and as_json:
        raise click.UsageError("--json prints to stdout, where the rows go without --out: name a file with --out")
    with Library(ctx.cfg, read_only=True) as lib:
        try:
            report = lib.export(out if out is not None else sys.stdout, fmt, vectors=vectors)
        except ModuleNotFoundError as exc:
            raise click.ClickException(f"{exc}") from exc
        except ExportError as exc:
            raise click.UsageError(str(exc)) from exc
    if as_json:
        emit_json(report.to_dict())
    elif out is not None:
        say(f"exported {report.rows} image(s) to {printable(report.out)}")


@click.command(name="import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--map-path",
    "path_map",
    multiple=True,
    metavar="OLD=NEW",
    callback=lambda _ctx, _param, values: [_folder_pair(v) for v in values],
    help="Import rows under folder OLD as under NEW (photos mounted elsewhere where the rows were made); repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts and errors as JSON on stdout.")
@pass_context
@library_errors
def import_(ctx: Context, paths: tuple[Path, ...], path_map: list[tuple[str, str]], as_json: bool) -> None:
    """Merge exported rows (Parquet, JSONL or CSV files, or folders of them) into
    the index, keyed by content hash.

    Importing the same rows twice changes nothing; human text in the index is
    never replaced; vectors from another embedder than the index's are refused
    (exit 2) and rows without vectors are embedded here. A bad file or row is
    reported with its cause, the rest goes on, and the exit status is 1.
    """
    with Library(ctx.cfg) as lib:
        try:
            report = lib.import_(paths, path_map=path_map)
        except EmbedderMismatch as exc:
            raise click.UsageError(printable(exc)) from exc
    if as_json:
        emit_json(report.to_dict())
    say(
        f"imported {report.rows} row(s) from {report.files} file(s): {report.images_added} image(s) added, "
        f"{report.captions_written} caption(s) written, {report.unchanged} unchanged, "
        f"{report.human_kept} kept human text, {report.kept_local} kept this index's file, "
        f"{report.failed_rows} bad row(s)"
    )
    for file, row, error in report.errors:
        where = printable(file) if row is None else f"{printable(file)}: row {row}"
        say(f"  failed: {where}: {printable(error)}")
    if report.failed:
        sys.exit(1)


def _folder_pair(value: str) -> tuple[str, str]:
    old, sep, new = value.partition("=")
    if not sep or not old.startswith("/") or not new.startswith("/"):
        raise click.BadParameter(f"{value!r} is not OLD=NEW with two absolute folders", param_hint="--map-path")
    return old.rstrip("/") or "/", new.rstrip("/") or "/"
