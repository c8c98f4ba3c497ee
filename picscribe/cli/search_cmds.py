"""picscribe search."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

import click

from picscribe.search import Hit, SearchFilters

from ..library import Library
from ._common import Context, emit_json, library_errors, pass_context, printable, say

_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m")


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
        return dt.strftime("%Y-%m-%d %H:%M:%S")
    raise click.BadParameter(f"{value!r} is not a date like 2024-07-31 or 2024-07-31T18:00", param_hint=hint)


def _print_hits(query: str, hits: list[Hit], seconds: float) -> None:
    if not hits:
        click.echo(f"No matches for {printable(repr(query))}.")
        return
    for rank, hit in enumerate(hits, 1):
        click.echo(f"{rank:>2}. {hit.score:.3f}  {printable(hit.path)}")
        click.echo(f"    {printable(hit.caption)}")
    say(f"{len(hits)} result(s) in {seconds * 1000:.0f} ms")


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
    help="Only images where the captioner detected this object (e.g. dog); repeat to require several.",
)
@click.option("--has-text", is_flag=True, help="Only images in which text was read (OCR).")
@click.option(
    "--captioner",
    default=None,
    metavar="NAME",
    help="Only images searched by this captioner's caption (e.g. offline; 'human' for edited or imported text).",
)
@click.option("--model", default=None, metavar="ID", help="Only images searched by this captioner model id.")
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
) -> None:
    """Search the index by description. QUERY '-' reads one query per line from stdin."""
    filters = SearchFilters(
        folder=str(folder.expanduser().absolute()) if folder else None,
        date_from=_parse_date(date_from, end=False, hint="--from"),
        date_to=_parse_date(date_to, end=True, hint="--to"),
        objects=tuple(o.strip().lower() for o in objects if o.strip()),
        has_text=has_text,
        captioner=captioner or None,
        model=model or None,
    )
    with Library(ctx.cfg, read_only=True) as lib:
        retriever = lib.retriever
        # Load the model before the clock starts: the per-query time shown
        # should be the query's, not the one-time model load's.
        retriever.embedder.embed(["warm-up"])
        queries = (line.rstrip("\n") for line in sys.stdin) if query == "-" else iter([query])
        for q in queries:
            started = time.perf_counter()
            hits = retriever.search(q, limit=limit, filters=filters, min_score=min_score) if q.strip() else []
            elapsed = time.perf_counter() - started
            if as_json:
                emit_json([h.to_json() for h in hits])
                sys.stdout.flush()  # a script piping queries in waits for each answer
            else:
                _print_hits(q, hits, elapsed)
