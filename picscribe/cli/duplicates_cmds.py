"""picscribe duplicates."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from ..duplicates import TIERS, DuplicateGroup
from ..library import Library
from ._common import Context, emit_json, library_errors, pass_context, printable, say, stderr_is_tty

_TIER_NAMES = {"exact": "exact copies", "same": "same picture", "similar": "similar shots"}


@click.command()
@click.option(
    "--tier",
    type=click.Choice(TIERS),
    default=None,
    help="Only this tier: exact (same bytes), same (same picture: resized, re-encoded, converted, "
    "lightly cropped), similar (a burst: shots seconds apart). Default: all three.",
)
@click.option(
    "--folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Only files inside this folder.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per group.")
@pass_context
@library_errors
def duplicates(ctx: Context, tier: str | None, folder: Path | None, as_json: bool) -> None:
    """List copies of the same photo, in tiers, with the file to keep and why.

    Nothing is deleted or moved: picscribe only lists. Photos indexed by an
    older picscribe are decoded once first, for the "same picture" tier.
    """
    tiers = (tier,) if tier else TIERS
    with Library(ctx.cfg) as lib:
        skipped: list[tuple[str, str]] = []
        if tiers != ("exact",):
            skipped = _fill(lib)
        groups = lib.duplicates(tiers, folder)
    if as_json:
        emit_json([g.to_json() for g in groups])
    else:
        _print(groups, tiers)
    if skipped:
        for path, why in skipped:
            say(f"not compared: {printable(path)}: {printable(why)}")
        say(f"{len(skipped)} file(s) could not be decoded for the picture comparison")
        sys.exit(1)


def _fill(lib: Library) -> list[tuple[str, str]]:
    """Picture hashes for content an older picscribe indexed; a bar on a terminal."""
    bar: tqdm | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and stderr_is_tty():
            bar = tqdm(total=total, unit="img", desc="hashing pictures", file=sys.stderr)
        if bar is not None:
            bar.update(done - bar.n)

    try:
        return lib.fill_picture_hashes(progress).skipped
    finally:
        if bar is not None:
            bar.close()


def _print(groups: list[DuplicateGroup], tiers: tuple[str, ...]) -> None:
    if not groups:
        click.echo(f"no {' / '.join(_TIER_NAMES[t] for t in tiers)} found")
        return
    for group in groups:
        click.echo(f"{_TIER_NAMES[group.tier]}: {len(group.files)} files")
        click.echo(f"  keep  {printable(group.keep.path)}  <- {printable(group.why)}")
        for other in group.others:
            click.echo(f"        {printable(other.path)}")
    counts = {t: sum(1 for g in groups if g.tier == t) for t in tiers}
    click.echo(", ".join(f"{n} group{'s' if n != 1 else ''} of {_TIER_NAMES[t]}" for t, n in counts.items()))
    click.echo("nothing was deleted or moved")
