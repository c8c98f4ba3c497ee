"""picscribe search."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

import click

from picscribe.indexer.object_labels import resolve_object_label
from picscribe.search import Hit, SearchFilters

from ..library import Library
from ._common import Context, emit_json, library_errors, pass_context, printable, say

_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m", "%Y")


def _parse_date(value: str | None, *, end: bool, hint: str) -> str | None:
    if value is None:
        return None
    for fmt in _DATE_FORMATS:
        try:
            dt = datetime.strptime(value, fmt)
        except ValueError:
            continue
        # A bare day or month as an upper bound means "through the end of it".
        if end and fmt == "%Y-%m-%d":
            dt = dt.replace(hour=23, minute=59, second=59)
        elif end and fmt == "%Y-%m":
            nxt = dt.replace(year=dt.year + dt.month // 12, month=dt.month % 12 + 1)
            dt = datetime.fromtimestamp(nxt.timestamp() - 1)
        elif end and fmt == "%Y":
            dt = dt.replace(month=12, day=31, hour=23, minute=59, second=59)
        return dt.strftime("%Y-%m-%d %H:%M:%S")
    raise click.BadParameter(
        f"{value!r} is not a date like 2024, 2024-07, 2024-07-31 or 2024-07-31T18:00", param_hint=hint
    )


def _object_labels(lib: Library, names: tuple[str, ...]) -> tuple[str, ...]:
    """The stored labels ``--object`` names mean ("dining table", "people" -> table, person).
    A name that means none of the index's labels is a usage error: silence would look like "no such photo"."""
    wanted = [name for name in names if name.strip()]
    if not wanted:
        return ()
    known = dict(lib.object_labels())
    labels: list[str] = []
    for name in wanted:
        label = resolve_object_label(name, known)
        if label is None:
            if not known:
                why = "this index has no detected objects (its captioner detects none; try --captioner offline)"
            else:
                common = ", ".join(sorted(known, key=lambda k: -known[k])[:12])
                why = f"no photo in this index has it; common labels: {common} (all: picscribe status --labels)"
            raise click.BadParameter(printable(f"{name!r}: {why}"), param_hint="--object")
        labels.append(label)
    return tuple(dict.fromkeys(labels))


#: How the plain output names each field of ``Hit.matched``.
_FIELD_LABELS = (
    ("caption", "caption"),
    ("ocr", "text in photo"),
    ("tags", "tags"),
    ("objects", "objects"),
    ("place", "place"),
)


def _matched_line(hit: Hit) -> str | None:
    """'matched: "stop" in text in photo; "dog" in caption', or None when no query word matched."""
    parts = [
        ", ".join(f'"{w}"' for w in words) + f" in {label}"
        for name, label in _FIELD_LABELS
        if (words := getattr(hit.matched, name))
    ]
    return "matched: " + "; ".join(parts) if parts else None


def _print_hits(query: str, hits: list[Hit], seconds: float) -> None:
    if not hits:
        click.echo(f"No matches for {printable(repr(query))}.")
        return
    if all(hit.weak for hit in hits):
        # A query the embedder cannot understand (another language, emoji) still
        # has nearest neighbours; saying so keeps them from looking like answers.
        click.echo(f"No good matches for {printable(repr(query))}; the closest are:")
    for rank, hit in enumerate(hits, 1):
        label = "  (weak match)" if hit.weak else ""
        click.echo(f"{rank:>2}. {hit.score:.3f}  {printable(hit.path)}{label}")
        click.echo(f"    {printable(hit.caption)}")
        if taken := " · ".join(x for x in (hit.place.label if hit.place else None, hit.camera) if x):
            click.echo(f"    {printable(taken)}")
        if (matched := _matched_line(hit)) is not None:
            click.echo(f"    {printable(matched)}")
        if hit.copies:
            more = f"{len(hit.copies)} more cop{'y' if len(hit.copies) == 1 else 'ies'}"
            click.echo(f"    {more}: {printable(', '.join(hit.copies))}")
    weak = sum(hit.weak for hit in hits)
    say(f"{len(hits)} result(s) in {seconds * 1000:.0f} ms" + (f", {weak} weak" if weak else ""))


@click.command()
@click.argument("query")
@click.option("-k", "--limit", type=click.IntRange(min=1), default=10, show_default=True, help="Results per query.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of hits (JSONL, one per query, with '-').")
@click.option("--folder", type=click.Path(path_type=Path), default=None, help="Only images under this folder.")
@click.option(
    "--from", "date_from", default=None, help="Only photos taken on or after this date (EXIF, else file time)."
)
@click.option("--to", "date_to", default=None, help="Only photos taken on or before this date.")
@click.option("--min-score", type=float, default=None, help="Drop hits whose fused score is below this.")
@click.option(
    "--object",
    "objects",
    multiple=True,
    metavar="LABEL",
    help=(
        "Only images where the captioner detected this object (e.g. dog, people, dining table); "
        "repeat to require several. Labels: picscribe status --labels."
    ),
)
@click.option("--has-text", is_flag=True, help="Only images in which text was read (OCR).")
@click.option(
    "--captioner",
    default=None,
    metavar="NAME",
    help="Only images searched by this captioner's caption (e.g. offline; 'human' for edited or imported text).",
)
@click.option("--model", default=None, metavar="ID", help="Only images searched by this captioner model id.")
@click.option(
    "--place",
    default=None,
    metavar="NAME",
    help="Only photos taken in this city, region or country, by GPS (e.g. Lisbon, Portugal, PT); any case.",
)
@click.option(
    "--camera", default=None, metavar="TEXT", help="Only photos whose camera make or model contains this (e.g. nikon)."
)
@click.option(
    "--no-collapse",
    is_flag=True,
    help="List every copy of a picture as its own hit (by default copies fold into one, listed in 'copies').",
)
@pass_context
@library_errors
def search(
    ctx: Context,
    query: str,
    limit: int,
    as_json: bool,
    folder: Path | None,
    date_from: str | None,
    date_to: str | None,
    min_score: float | None,
    objects: tuple[str, ...],
    has_text: bool,
    captioner: str | None,
    model: str | None,
    place: str | None,
    camera: str | None,
    no_collapse: bool,
) -> None:
    """Search the index by description. QUERY '-' reads one query per line from stdin.

    Hits scored too low to trust are marked weak ("weak": true in --json).
    """
    if not query.strip():
        raise click.BadParameter("the query is empty", param_hint="QUERY")
    start = _parse_date(date_from, end=False, hint="--from")
    end = _parse_date(date_to, end=True, hint="--to")
    if start is not None and end is not None and start > end:
        raise click.BadParameter(f"--from {date_from} is later than --to {date_to}", param_hint="--from/--to")
    if folder is not None and not folder.expanduser().is_dir():
        # Still searched: an unplugged drive's photos stay in the index; a typo finds nothing, and this says why.
        say(printable(f"Warning: --folder {folder.expanduser().absolute()} does not exist or is not a folder"))
    with Library(ctx.cfg, read_only=True) as lib:
        # First: it opens the index for search (without SQLAlchemy where it can), and --object reads it.
        retriever = lib.retriever
        filters = SearchFilters(
            folder=str(folder.expanduser().absolute()) if folder else None,
            date_from=start,
            date_to=end,
            objects=_object_labels(lib, objects),
            has_text=has_text,
            captioner=captioner or None,
            model=model or None,
            place=place.strip() or None if place else None,
            camera=camera.strip() or None if camera else None,
        )
        # Load the model before the clock starts: the per-query time shown
        # should be the query's, not the one-time model load's.
        retriever.embedder.embed(["warm-up"])
        queries = (line.rstrip("\n") for line in sys.stdin) if query == "-" else iter([query])
        for q in queries:
            started = time.perf_counter()
            hits = (
                retriever.search(q, limit=limit, filters=filters, min_score=min_score, collapse=not no_collapse)
                if q.strip()
                else []
            )
            elapsed = time.perf_counter() - started
            if as_json:
                emit_json([h.to_json() for h in hits])
                sys.stdout.flush()  # a script piping queries in waits for each answer
            else:
                _print_hits(q, hits, elapsed)
