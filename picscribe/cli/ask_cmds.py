"""picscribe ask: answer a question about one image (visual question answering)."""

from __future__ import annotations

from pathlib import Path

import click

from picscribe.indexer import answers_questions
from picscribe.indexer.decode import DecodeError, load
from picscribe.indexer.scan import FileEntry

from ..library import Library
from ._common import DEVICE, DEVICE_HELP, Context, emit_json, library_errors, pass_context, printable, say


@click.command()
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("question")
@click.option("--captioner", default=None, help="Backend name, e.g. vlm:MODEL [default: auto].")
@click.option("--device", type=DEVICE, default=None, help=DEVICE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as a JSON object.")
@pass_context
@library_errors
def ask(ctx: Context, image: Path, question: str, captioner: str | None, device: str | None, as_json: bool) -> None:
    """Answer QUESTION about IMAGE.

    A VLM answers freely. The offline captioner answers only what its OCR,
    detector, scene rules and colours can tell, and otherwise says that a
    VLM is needed (exit status 1), never a guess.
    """
    if not question.strip():
        raise click.BadParameter("the question is empty", param_hint="QUESTION")
    cfg = ctx.with_overrides(captioner=captioner, device=device)
    with Library(cfg) as lib:  # closing it releases the backend (an API client's connections)
        _ask(lib, image, question, as_json)


def _ask(lib: Library, image: Path, question: str, as_json: bool) -> None:
    cfg = lib.config
    choice = lib.choose_captioner()
    say(choice.reason)
    backend = choice.captioner
    if not answers_questions(backend):
        raise click.UsageError(
            f"captioner {backend.name} ({backend.model_id}) cannot answer questions; "
            "use --captioner offline or a chat VLM (vlm:MODEL)"
        )
    abs_path = str(image.expanduser().absolute())
    try:
        loaded = load(FileEntry(abs_path, 0, 0), frozenset(), max_pixels=cfg.max_pixels, max_side=cfg.max_side)
    except DecodeError as exc:
        say(printable(f"Error: {abs_path}: {exc}"))
        raise SystemExit(1) from exc
    assert loaded.image is not None
    try:
        (answer,) = backend.ask([loaded.image], [question])
    except Exception as exc:  # a model or server failure is this image's error, said in one line
        say(printable(f"Error: {abs_path}: captioner {backend.name} failed: {type(exc).__name__}: {exc}"))
        raise SystemExit(1) from exc
    if as_json:
        emit_json(
            {
                "path": abs_path,
                "question": question,
                "answer": answer.text,
                "answered": answer.answered,
                "source": answer.source,
                "captioner": backend.name,
                "model": backend.model_id,
            }
        )
    else:
        click.echo(printable(answer.text, multiline=True))
    if not answer.answered:
        raise SystemExit(1)
