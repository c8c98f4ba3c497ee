"""picscribe eval: measure captioning and search on a labelled folder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from ..evaluation import (
    SCALE_NOTE,
    CaptionEval,
    CaptionMemo,
    DatasetError,
    Failure,
    OracleEval,
    RankStats,
    RetrievalEval,
    load_eval_set,
    run_captions,
    run_oracle,
    run_retrieval,
)
from ..library import Library
from ._common import Context, emit_json, library_errors, pass_context, printable, say

MODES = ("captions", "retrieval", "oracle")
_ORACLE_LABELS = {"bm25": "BM25 only", "dense": "dense only", "hybrid": "hybrid"}


def _print_captions(r: CaptionEval) -> None:
    click.echo(f"\nCaptions: {r.captioner} ({r.model_id}), {r.images} image(s) scored")
    click.echo(f"  {'BLEU-4':>8} {'ROUGE-L':>8} {'CIDEr-D':>8}   scale: {SCALE_NOTE}")
    click.echo(f"  {r.bleu4:8.1f} {r.rouge_l:8.1f} {r.cider_d:8.1f}")
    n = r.nouns
    if n.nouns:
        click.echo(
            f"  noun precision  {n.precision:.3f}  ({n.correct} of {n.nouns} object nouns supported, pooled "
            f"{n.micro_precision:.3f}; {n.captions_without_nouns} caption(s) without object nouns left out)"
        )
    else:
        click.echo("  noun precision  n/a    (no caption names an object)")
    click.echo(
        f"  seconds/image   {r.seconds_per_image:.3f}  (first image {r.first_image_seconds:.2f} s, with model loading)"
    )


def _rank_header(lead: str) -> str:
    return f"  {lead}{'R@1':>6} {'R@5':>6} {'R@10':>6} {'median rank':>12}"


def _rank_cells(ranks: RankStats) -> str:
    if not ranks.queries:  # e.g. oracle mode with one reference per image: recall of nothing is not 0
        return f"{'n/a':>6} {'n/a':>6} {'n/a':>6} {'n/a':>12}"
    return f"{ranks.r_at_1:6.3f} {ranks.r_at_5:6.3f} {ranks.r_at_10:6.3f} {ranks.median_rank:12g}"


def _print_retrieval(r: RetrievalEval) -> None:
    click.echo(
        f"\nRetrieval: {r.captioner} ({r.model_id}), {r.images} image(s) indexed in {r.index_seconds:.1f} s, "
        f"{r.ranks.queries} reference queries"
    )
    click.echo(_rank_header(""))
    click.echo("  " + _rank_cells(r.ranks))


def _print_oracle(r: OracleEval) -> None:
    queries = r.rows[0].ranks.queries if r.rows else 0
    click.echo(
        f"\nOracle search (references as captions, leave one out): {r.folds} fold(s), "
        f"{r.images} image(s), {queries} queries"
    )
    click.echo(_rank_header(f"{'search':<11}{'dense':>6} {'keyword':>7} "))
    for row in r.rows:
        label = _ORACLE_LABELS.get(row.name, row.name)
        click.echo(f"  {label:<11}{row.weights.dense:6.2f} {row.weights.keyword:7.2f} " + _rank_cells(row.ranks))


def _report_failures(mode: str, failures: list[Failure]) -> None:
    if failures:
        say(f"{mode}: {len(failures)} image(s) failed and were left out:")
        for f in failures:
            say(f"  failed: {printable(f.file)}: {printable(f.error)}")


@click.command("eval")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--mode",
    type=click.Choice([*MODES, "all"]),
    default="all",
    show_default=True,
    help="captions: caption quality; retrieval: index the images and search with the references; "
    "oracle: search the references themselves (leave one out).",
)
@click.option("--captioner", default=None, help="Backend to evaluate, e.g. offline or fake [default: auto].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with a key per mode on stdout.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N images (quick runs).")
@pass_context
@library_errors
def eval_(ctx: Context, folder: Path, mode: str, captioner: str | None, as_json: bool, limit: int | None) -> None:
    """Measure captions and search on FOLDER, a labelled set of photos.

    FOLDER holds captions.jsonl: one JSON object per line with "file" (a path
    relative to FOLDER), "captions" (reference captions) and optionally
    "objects" (COCO category -> count). The index is never touched: images
    are indexed into a temporary one that is deleted afterwards.

    Exit status 1 if any image could not be decoded or captioned (the rest
    are still scored), 2 if FOLDER is not a usable evaluation set.
    """
    try:
        dataset = load_eval_set(folder).head(limit)
    except DatasetError as exc:
        raise click.BadParameter(str(exc), param_hint="FOLDER") from exc
    modes = MODES if mode == "all" else (mode,)
    cfg = ctx.with_overrides(captioner=captioner)
    items = dataset.items
    say(f"evaluating {len(items)} image(s) from {printable(dataset.folder)}")
    # Closing the Library releases an API client's connection pool when the evaluations are done.
    with Library(cfg) as lib:
        choice = lib.choose_captioner() if {"captions", "retrieval"} & set(modes) else None
        if choice is not None:
            say(choice.reason)
            # Captions and retrieval caption the same photos: each is sent to the backend once.
            choice = replace(choice, captioner=CaptionMemo(choice.captioner))
        out: dict[str, object] = {"folder": str(dataset.folder), "images": len(items)}
        failed = False
        if "captions" in modes:
            assert choice is not None
            captions = run_captions(
                items,
                choice.captioner,
                batch_size=cfg.batch_size,
                workers=cfg.workers,
                max_pixels=cfg.max_pixels,
                max_side=cfg.max_side,
                decode_memory=cfg.decode_memory_mb << 20,
                status=say,
            )
            _report_failures("captions", captions.failures)
            failed |= bool(captions.failures)
            out["captions"] = captions.to_dict()
            if not as_json:
                _print_captions(captions)
        if "retrieval" in modes:
            assert choice is not None
            retrieval = run_retrieval(items, cfg, choice, status=say)
            _report_failures("retrieval", retrieval.failures)
            failed |= bool(retrieval.failures)
            out["retrieval"] = retrieval.to_dict()
            if not as_json:
                _print_retrieval(retrieval)
        if "oracle" in modes:
            oracle = run_oracle(items, cfg, status=say)
            out["oracle"] = oracle.to_dict()
            if not as_json:
                _print_oracle(oracle)
    if as_json:
        emit_json(out)
    if failed:
        raise SystemExit(1)
