"""picscribe watch."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import FrameType

import click

from picscribe.indexer.watch import BatchReport, Watcher, WatcherBusy, WatchOptions, busy_message, watcher_state

from ..library import Library
from ._common import (
    BATCH_SIZE,
    DEVICE,
    DEVICE_HELP,
    Context,
    api_options,
    api_overrides,
    batch_overrides,
    check_budget_applies,
    emit_json,
    library_errors,
    pass_context,
    printable,
    require_utf8_paths,
    say,
)
from ._progress import terminal_progress

_SECONDS = click.FloatRange(min=0)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--captioner", default=None, help="Backend name, e.g. offline, fake, or auto [default: auto].")
@click.option("--device", type=DEVICE, default=None, help=DEVICE_HELP)
@click.option("--batch-size", type=BATCH_SIZE, default=None, help="As for index.")
@api_options
@click.option(
    "--debounce",
    type=_SECONDS,
    default=None,
    help="Seconds a file must stay unchanged (size and mtime) before it is read [default: 1].",
)
@click.option(
    "--reconcile-every",
    type=_SECONDS,
    default=None,
    help="Seconds between rescans that catch missed events; 0: only at start [default: 600].",
)
@click.option(
    "--ignore",
    "extra_ignore",
    multiple=True,
    metavar="GLOB",
    help="Also leave alone names matching GLOB (repeatable); config watch_ignore holds the defaults.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per processed batch on stdout (JSONL).")
@pass_context
@library_errors
def watch(
    ctx: Context,
    paths: tuple[Path, ...],
    captioner: str | None,
    device: str | None,
    batch_size: int | str | None,
    concurrency: int | None,
    max_requests: int | None,
    max_tokens: int | None,
    debounce: float | None,
    reconcile_every: float | None,
    extra_ignore: tuple[str, ...],
    as_json: bool,
) -> None:
    """Keep the index in step with the folders PATH... until Ctrl-C or SIGTERM.

    New and edited images are captioned once they stop changing; renamed
    and moved ones keep their captions; deleted ones leave the index. A scan
    at start (and every --reconcile-every seconds) catches what happened
    while no watcher was running. One watcher per index.
    """
    cfg = ctx.with_overrides(
        captioner=captioner,
        device=device,
        watch_debounce=debounce,
        watch_reconcile_every=reconcile_every,
        **batch_overrides(batch_size),
        **api_overrides(concurrency, max_requests, max_tokens),
    )
    require_utf8_paths(paths)
    # Refuse before loading any model; run() checks again under the lock.
    state = watcher_state(cfg.home)
    if state is not None and state.running:
        raise click.ClickException(printable(busy_message(cfg.home)))
    with Library(cfg) as lib:
        choice = lib.choose_captioner()
        check_budget_applies(cfg, choice.captioner)
        say(choice.reason)
        options = WatchOptions(
            debounce=cfg.watch_debounce,
            reconcile_every=cfg.watch_reconcile_every,
            ignore=(*cfg.watch_ignore, *extra_ignore),
        )
        store = lib.store
        with terminal_progress() as progress:
            # The UI serves and indexes only inside the folders named here (or by index).
            store.add_library_roots(str(p) for p in paths)
            watcher = Watcher(
                lib.indexer(),
                list(paths),
                options,
                on_batch=lambda done: _report(done, as_json),
                progress=progress,
            )
            say(f"watching {', '.join(map(printable, watcher.roots))}; Ctrl-C or SIGTERM to stop")
            try:
                with _stop_on_signals(watcher):
                    watcher.run()
            except WatcherBusy as exc:
                raise click.ClickException(printable(exc)) from exc
    say("watcher stopped")


def _report(done: BatchReport, as_json: bool) -> None:
    if as_json:
        emit_json(done.to_dict())
    if not done.changed_anything:
        return
    r = done.report
    parts = [f"{r.captioned} captioned", f"{r.reused} reused", f"{done.moved} moved", f"{r.removed} removed"]
    if r.failed:
        parts.append(f"{r.failed} failed")
    clock = datetime.now().strftime("%H:%M:%S")
    say(f"[{clock}] {done.kind}: " + ", ".join(parts) + f" in {r.seconds:.1f}s; {done.queue_length} queued")
    for path, error in r.failures[:20]:
        say(f"  failed: {printable(path)}: {printable(error)}")


@contextmanager
def _stop_on_signals(watcher: Watcher) -> Iterator[None]:
    """First SIGINT/SIGTERM: finish the batch in flight and exit 0. A second
    SIGINT abandons it at once; committed transactions are safe either way."""

    def first(signum: int, frame: FrameType | None) -> None:
        say("stopping: finishing the batch in flight (Ctrl-C again to abandon it)")
        watcher.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {sig: signal.signal(sig, first) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
