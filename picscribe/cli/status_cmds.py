"""picscribe status."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from picscribe.indexer.watch import WatcherState, watcher_state
from picscribe.store._quick_status import quick_status

from ._common import Context, emit_json, library_errors, pass_context, printable

if TYPE_CHECKING:
    from picscribe.store import StoreStatus


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as a JSON object.")
@click.option(
    "--labels", is_flag=True, help="List the detected object labels (what search --object takes), with photo counts."
)
@pass_context
@library_errors
def status(ctx: Context, as_json: bool, labels: bool) -> None:
    """Show what the index holds: counts, models, failures, and the watcher."""
    # The counts straight from SQLite, without SQLAlchemy, numpy or FAISS: status answers at once.
    # The library opens the index when that cannot answer (no index yet, an older schema to migrate).
    st = None if labels else quick_status(ctx.cfg.home)
    if st is None:
        from ..library import Library

        with Library(ctx.cfg, read_only=True) as lib:
            if labels:
                _echo_labels(lib.object_labels(), as_json)
                return
            st = lib.status()
    watcher = watcher_state(ctx.cfg.home)
    if as_json:
        d = asdict(st)
        d["failures"] = [{"path": p, "error": e} for p, e in st.failures]
        d["captions_by_model"] = [{"captioner": n, "model": m, "count": c} for n, m, c in st.captions_by_model]
        d["stored_models"] = [{"captioner": n, "model": m, "count": c} for n, m, c in st.stored_models]
        d["unreadable_folders"] = [{"path": p, "error": e} for p, e in st.unreadable_folders]
        d["watcher"] = watcher.to_dict() if watcher is not None else None
        emit_json(d)
        return
    click.echo(f"index:       {printable(st.home)}")
    click.echo(f"images:      {_counts(st)}")
    active = printable(f"{st.active_captioner} ({st.active_model})") if st.active_captioner else "none yet"
    click.echo(f"captioner:   {active}")
    click.echo(f"embedder:    {st.embedder or 'none yet'}")
    for name, model, count in st.captions_by_model:
        click.echo(f"  {count:>7}  searched by {printable(name)} ({printable(model)})")
    searched = {(name, model) for name, model, _ in st.captions_by_model}
    others = [(n, m, c) for n, m, c in st.stored_models if (n, m) not in searched]
    if others:
        click.echo("also stored (not searched; kept for a switch back or a finishing reindex):")
        for name, model, count in others:
            click.echo(f"  {count:>7}  captioned by {printable(name)} ({printable(model)})")
    _echo_watcher(watcher)
    if st.failures:
        click.echo("failed:")
        for path, error in st.failures:
            click.echo(f"  {printable(path)}: {printable(error)}")
        if st.failed > len(st.failures):
            click.echo(f"  ... and {st.failed - len(st.failures)} more")
    if st.unreadable_folders:
        click.echo("unreadable folders (not listed by the last index run; what was indexed there is kept):")
        for path, error in st.unreadable_folders:
            click.echo(f"  {printable(path)}: {printable(error)}")


def _counts(st: StoreStatus) -> str:
    """ "150 files: 135 searchable, 12 copies of other files, 3 failed": each number says what it counts."""
    files = f"{st.images} file{'s' if st.images != 1 else ''}"
    parts = [f"{st.searchable} searchable"]
    if st.copies:
        parts.append(f"{st.copies} cop{'ies' if st.copies != 1 else 'y'} of other files (found with them)")
    waiting = st.ok - st.searchable - st.copies
    if waiting > 0:
        parts.append(f"{waiting} without a searchable caption yet")
    if st.failed:
        parts.append(f"{st.failed} failed")
    return f"{files}: {', '.join(parts)}"


def _echo_labels(labels: list[tuple[str, int]], as_json: bool) -> None:
    if as_json:
        emit_json([{"label": label, "count": count} for label, count in labels])
        return
    if not labels:
        click.echo("No object labels: the captioner of this index detects no objects (the offline captioner does).")
        return
    for label, count in labels:
        click.echo(f"{count:>7}  {printable(label)}")


def _echo_watcher(w: WatcherState | None) -> None:
    if w is None:
        click.echo("watcher:     never run")
        return
    if w.running:
        click.echo(f"watcher:     running (pid {w.pid}) since {w.started_at}, {w.queue_length} queued")
        click.echo(f"  watching:  {', '.join(map(printable, w.roots))}")
        if w.last_event_at:
            click.echo(f"  last event: {w.last_event_at}")
    else:
        ended = f"stopped {w.stopped_at}" if w.stopped_at else "not running (the last one did not stop cleanly)"
        click.echo(f"watcher:     {ended}")
    if w.last_error:
        click.echo(f"  last error: {printable(w.last_error)} ({w.last_error_at})")
