"""picscribe index / reindex."""

from __future__ import annotations

from pathlib import Path

import click

from picscribe.indexer import IndexReport

from ..library import Library
from ._common import (
    BATCH_SIZE,
    DEVICE,
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


def _summary(report: IndexReport, verb: str) -> None:
    parts = [
        f"{report.scanned} found" if verb == "indexed" else f"{report.unchanged} already done",
        f"{report.captioned} captioned",
        f"{report.reused} reused (moved or duplicate)",
    ]
    if verb == "indexed":
        parts += [f"{report.unchanged} unchanged", f"{report.removed} removed"]
    parts.append(f"{report.failed} failed")
    say(f"{verb}: " + ", ".join(parts) + f" in {report.seconds:.1f}s")
    for path, error in report.failures:
        say(f"  failed: {printable(path)}: {printable(error)}")
    if report.usage is not None:
        u = report.usage
        failed = f" ({u['failed_requests']} failed)" if u["failed_requests"] else ""
        say(
            f"{report.captioner} usage: {u['requests']} requests{failed}, "
            f"{u['input_tokens']:,} input + {u['output_tokens']:,} output tokens"
        )
    if report.stopped is not None:
        say(f"stopped early: {printable(report.stopped)}")
        say(f"  {report.pending} file(s) not captioned yet; run the same command again to continue")
    if report.still_failing:
        say(f"{len(report.still_failing)} file(s) failed before and are unchanged (use --retry-failed):")
        for path, error in report.still_failing[:20]:
            say(f"  failed: {printable(path)}: {printable(error)}")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--captioner", default=None, help="Backend name, e.g. offline, fake, or auto [default: auto].")
@click.option("--device", type=DEVICE, default=None, help="Where local models run [default: auto].")
@click.option(
    "--batch-size",
    type=BATCH_SIZE,
    default=None,
    help="Images per model batch, or auto: a VLM halves it on GPU out-of-memory [default: 8, VLM auto].",
)
@api_options
@click.option("--retry-failed", is_flag=True, help="Try again files that failed before and have not changed.")
@click.option("--strict", is_flag=True, help="Exit 1 also when files that failed before still fail.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's report as JSON on stdout.")
@pass_context
@library_errors
def index(
    ctx: Context,
    paths: tuple[Path, ...],
    captioner: str | None,
    device: str | None,
    batch_size: int | str | None,
    concurrency: int | None,
    max_requests: int | None,
    max_tokens: int | None,
    retry_failed: bool,
    strict: bool,
    as_json: bool,
) -> None:
    """Caption and index the images under PATH... (incremental).

    Exit status 1 if this run could not index an image under PATH, or if it
    stopped early (an API key refused, a budget spent). Files that failed
    before and are unchanged are listed as a warning; with --strict they
    make the exit status 1 too.
    """
    cfg = ctx.with_overrides(
        captioner=captioner,
        device=device,
        **batch_overrides(batch_size),
        **api_overrides(concurrency, max_requests, max_tokens),
    )
    require_utf8_paths(paths)
    with Library(cfg) as lib:
        choice = lib.choose_captioner()
        check_budget_applies(cfg, choice.captioner)
        say(choice.reason)
        with terminal_progress() as progress:
            # The UI serves and indexes only inside the folders named here (or by watch).
            lib.store.add_library_roots(str(p) for p in paths)
            report = lib.indexer(retry_failed=retry_failed).index(list(paths), progress=progress)
    if as_json:
        emit_json(report.to_dict())
    if report.scanned == 0 and not report.failures and not report.still_failing:
        say("No images found under " + ", ".join(printable(p) for p in paths) + ".")
    else:
        _summary(report, "indexed")
    if report.failures or report.stopped is not None or (strict and report.still_failing):
        raise SystemExit(1)


@click.command()
@click.option("--captioner", default=None, help="Backend to re-caption with [default: auto].")
@click.option("--device", type=DEVICE, default=None)
@click.option("--batch-size", type=BATCH_SIZE, default=None, help="As for index.")
@api_options
@click.option("--json", "as_json", is_flag=True, help="Print the run's report as JSON on stdout.")
@pass_context
@library_errors
def reindex(
    ctx: Context,
    captioner: str | None,
    device: str | None,
    batch_size: int | str | None,
    concurrency: int | None,
    max_requests: int | None,
    max_tokens: int | None,
    as_json: bool,
) -> None:
    """Re-caption every indexed image with a (new) captioner.

    New captions are written next to the old ones; search switches to them
    only once every image has one. Interrupted runs resume where they stopped.
    """
    cfg = ctx.with_overrides(
        captioner=captioner,
        device=device,
        **batch_overrides(batch_size),
        **api_overrides(concurrency, max_requests, max_tokens),
    )
    with Library(cfg) as lib:
        choice = lib.choose_captioner()
        check_budget_applies(cfg, choice.captioner)
        say(choice.reason)
        lib.open_index(create=False)
        with terminal_progress() as progress:
            report = lib.indexer().reindex(progress=progress)
    if as_json:
        emit_json(report.to_dict())
    _summary(report, "re-indexed")
    if report.complete:
        say(f"search now uses {report.captioner} ({report.model_id})")
    else:
        say("not every image has a new caption yet; search still uses the previous captions")
        raise SystemExit(1)
