"""picscribe write-metadata."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from picscribe.indexer.exiftool_write import ExiftoolMissing

from ..library import Library
from ..metadata import METADATA_FIELDS, METADATA_TARGETS
from ._common import Context, emit_json, library_errors, pass_context, printable, say, stderr_is_tty


def _fields(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(f.strip() for f in value.split(",") if f.strip()))
    unknown = [f for f in chosen if f not in METADATA_FIELDS]
    if unknown or not chosen:
        raise click.BadParameter(f"{value!r}: choose from {','.join(METADATA_FIELDS)}")
    return chosen


@click.command(name="write-metadata")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--to",
    "target",
    type=click.Choice(METADATA_TARGETS),
    default="sidecar",
    show_default=True,
    help="Where to write: XMP sidecars (photo.jpg.xmp), or into the image files through exiftool.",
)
@click.option(
    "--fields",
    default=",".join(METADATA_FIELDS),
    show_default=True,
    callback=_fields,
    help="Comma-separated fields to write.",
)
@click.option("--dry-run", is_flag=True, help="Write nothing; report what would be written.")
@click.option("--json", "as_json", is_flag=True, help="Print written, unchanged, skipped and failed as JSON on stdout.")
@pass_context
@library_errors
def write_metadata(
    ctx: Context, paths: tuple[Path, ...], target: str, fields: tuple[str, ...], dry_run: bool, as_json: bool
) -> None:
    """Write each indexed image's caption (dc:description), detailed description,
    alt text and tags to its XMP sidecar, photo.jpg.xmp (or an existing photo.xmp).

    PATH... limits it to images under those paths [default: every ok image].
    An existing sidecar is merged: its other fields are kept, and a field holding
    text picscribe did not write is skipped and reported. A sidecar that cannot be
    parsed or written is reported, left untouched, and the exit status is 1.

    --to file writes the same into each image through exiftool (Debian:
    libimage-exiftool-perl), plus EXIF ImageDescription and, where the file has
    IPTC, Caption-Abstract. Pixels are compared before the file is replaced, and
    the index keeps the file's captions although its bytes change.
    """
    # Writing into files moves their rows to the new bytes: the index is written too.
    with Library(ctx.cfg, read_only=target == "sidecar" or dry_run) as lib:
        bar = tqdm(unit="img", desc="writing metadata", file=sys.stderr) if stderr_is_tty() else None
        try:
            report = lib.write_metadata(
                paths,
                fields,
                dry_run=dry_run,
                on_file=(lambda _path: bar.update(1)) if bar is not None else None,
                to=target,
            )
        except ExiftoolMissing as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            if bar is not None:
                bar.close()
    if as_json:
        emit_json(report.to_dict())
    verb = "would write" if dry_run else "wrote"
    what = "image file(s)" if target == "file" else "sidecar(s)"
    say(
        f"{verb} {len(report.written)} {what}, {len(report.unchanged)} unchanged, "
        f"{len(report.skipped)} skipped, {len(report.failed)} failed"
    )
    for path, reason in report.skipped:
        say(f"  skipped: {printable(path)}: {printable(reason)}")
    for path, error in report.failed:
        say(f"  failed: {printable(path)}: {printable(error)}")
    if report.failed:
        sys.exit(1)
