"""picscribe export / import."""

from __future__ import annotations

import os
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
    type=click.Path(path_type=Path),
    default=None,
    help="parquet, jsonl, csv: the file to write (replaced whole when complete) [default: stdout; parquet needs "
    "--out]. txt: the folder to write caption files under [default: beside the images].",
)
@click.option(
    "--with-vectors",
    "--vectors",
    "vectors",
    is_flag=True,
    help="Add each caption's vector (list of float32) from the index's embedder (not with txt).",
)
@click.option("--overwrite", is_flag=True, help="txt: replace caption files that exist [default: skip them].")
@click.option("--txt-tags", is_flag=True, help='txt: append the tags after the caption ("caption, tag1, tag2").')
@click.option(
    "--json", "as_json", is_flag=True, help="Print what was written as JSON on stdout (parquet/jsonl/csv: needs --out)."
)
@pass_context
@library_errors
def export(
    ctx: Context, fmt: str, out: Path | None, vectors: bool, overwrite: bool, txt_tags: bool, as_json: bool
) -> None:
    """Write one row per indexed image: path, sha256, caption, detailed, alt_text,
    model, captioner, human flag, tags, objects, OCR text, taken_at, the file's
    size, mtime and shape, and the embedder (and with --with-vectors the vector).

    --format txt writes kohya-style caption files instead: photo.jpg gets
    photo.txt with its caption, beside it or under --out (mirroring the folders
    below the indexed roots). An existing file is skipped unless --overwrite; a
    file that cannot be written is reported, the rest goes on, and the exit
    status is 1. picscribe's sidecar captioner reads such files back as
    human-written captions.
    """
    if fmt == "txt":
        _export_caption_files(ctx, out, vectors=vectors, overwrite=overwrite, tags=txt_tags, as_json=as_json)
        return
    for flag, given in (("--overwrite", overwrite), ("--txt-tags", txt_tags)):
        if given:
            raise click.UsageError(f"{flag} is for --format txt (--out is always replaced whole when complete)")
    if out is None and fmt == "parquet":
        raise click.UsageError("--format parquet writes a binary file: name it with --out")
    if out is None and as_json:
        raise click.UsageError("--json prints to stdout, where the rows go without --out: name a file with --out")
    if out is not None and out.is_dir():
        raise click.UsageError(f"--out {printable(out)} is a folder: name a file")
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


def _export_caption_files(
    ctx: Context, out: Path | None, *, vectors: bool, overwrite: bool, tags: bool, as_json: bool
) -> None:
    if vectors:
        raise click.UsageError("--with-vectors is for parquet, jsonl and csv: caption files hold text")
    if out is not None and out.exists() and not out.is_dir():
        raise click.UsageError(f"--out {printable(out)} is a file: with --format txt it names a folder")
    with Library(ctx.cfg, read_only=True) as lib:
        report = lib.export_caption_files(out, overwrite=overwrite, tags=tags)
    if as_json:
        emit_json(report.to_dict())
    where = "beside the images" if report.out is None else f"under {printable(report.out)}"
    say(
        f"wrote {report.written} caption file(s) {where}; skipped {report.skipped} that exist"
        f"{' (--overwrite replaces them)' if report.skipped else ''}; {report.failed} failed"
    )
    if not as_json:
        for skipped in report.skipped_files:
            say(f"  skipped: {printable(skipped)}: exists")
    for image, file, error in report.errors:
        which = printable(image) if file is None else f"{printable(file)} (for {printable(os.path.basename(image))})"
        say(f"  failed: {which}: {printable(error)}")
    if report.failed:
        sys.exit(1)


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
