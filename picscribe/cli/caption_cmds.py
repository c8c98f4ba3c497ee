"""picscribe caption: caption image files directly, without touching the index."""

from __future__ import annotations

import os
from pathlib import Path

import click

from picscribe.indexer import KNOWN_TASKS, TASK_CAPTION, TASK_OCR, Captioner, CaptionerStopped
from picscribe.indexer.decode import DecodeError, load
from picscribe.indexer.scan import FileEntry

from ..library import Library
from ._common import DEVICE, DEVICE_HELP, Context, emit_json, library_errors, pass_context, printable, say


@click.command()
# A folder is refused (exit 2) before anything loads: `index` is the command that walks folders.
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--captioner", default=None, help="Backend name [default: auto].")
@click.option(
    "--task",
    type=click.Choice(sorted(KNOWN_TASKS)),
    default=TASK_CAPTION,
    show_default=True,
    help="What to write: a caption, a detailed description, alt text, or the text read in the image (ocr).",
)
@click.option("--device", type=DEVICE, default=None, help=DEVICE_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image on stdout (JSONL).")
@pass_context
@library_errors
def caption(
    ctx: Context, images: tuple[Path, ...], captioner: str | None, task: str, device: str | None, as_json: bool
) -> None:
    """Caption IMAGE... and print the results. Exit status 1 if any failed."""
    cfg = ctx.with_overrides(captioner=captioner, device=device)
    with Library(cfg) as lib:  # closing it releases the backend (an API client's connections)
        choice = lib.choose_captioner()
        say(choice.reason)
        backend = choice.captioner
        if task not in backend.tasks:
            raise click.BadParameter(
                f"captioner {backend.name} cannot do {task!r}; it does {sorted(backend.tasks)}", param_hint="--task"
            )
        failed = _caption_each(backend, images, task, cfg.max_pixels, cfg.max_side, as_json)
    if failed:
        say(f"{failed} of {len(images)} image(s) failed")
        raise SystemExit(1)


def _caption_each(
    backend: Captioner, images: tuple[Path, ...], task: str, max_pixels: int, max_side: int, as_json: bool
) -> int:
    """Print each image's result; the number that failed."""
    failed = 0

    def fail(abs_path: str, error: str) -> None:
        nonlocal failed
        failed += 1
        say(printable(f"Error: {abs_path}: {error}"))
        if as_json:  # one object per image named, so a script can match failures to inputs
            emit_json(_failure_json(abs_path, error, backend, task))

    for done, path in enumerate(images):
        abs_path = str(path.expanduser().absolute())
        if not os.path.lexists(abs_path):
            fail(abs_path, "no such file")
            continue
        try:
            loaded = load(FileEntry(abs_path, 0, 0), frozenset(), max_pixels=max_pixels, max_side=max_side)
            assert loaded.image is not None
            (result,) = backend.caption([loaded.image], task)
        except CaptionerStopped as exc:  # a refused key or spent budget: the rest would fail the same way
            say(printable(f"Error: {abs_path}: {exc}; stopping"))
            if as_json:
                for rest in images[done:]:
                    emit_json(_failure_json(str(rest.expanduser().absolute()), f"not captioned: {exc}", backend, task))
            return failed + len(images) - done
        except DecodeError as exc:
            fail(abs_path, str(exc))
            continue
        except Exception as exc:  # one image's model failure must not stop the rest
            fail(abs_path, f"captioner {backend.name} failed: {type(exc).__name__}: {exc}")
            continue
        if as_json:
            emit_json(
                {
                    "path": abs_path,
                    "caption": result.text,
                    "model": backend.model_id,
                    "captioner": backend.name,
                    "task": task,
                    "tags": [{"label": t.label, "score": round(t.score, 4)} for t in result.tags],
                    "objects": [
                        {"label": o.label, "count": o.count, "score": round(o.score, 4)} for o in result.objects
                    ],
                    "ocr_text": result.ocr_text,
                    # Backend-specific findings (the offline captioner's setting, colours, nsfw score).
                    "extra": result.extra,
                }
            )
        elif task == TASK_OCR and not result.text.strip():
            say(printable(f"{abs_path}: no text found"))  # stdout stays empty: there is no text to print
        else:
            click.echo(printable(abs_path))
            click.echo(_indented(printable(result.text, multiline=True)))
    return failed


def _indented(text: str) -> str:
    """Every line of ``text`` under its path, four spaces in (OCR text and detailed descriptions have several)."""
    return "\n".join(f"    {line}" if line.strip() else "" for line in text.strip("\n").splitlines())


def _failure_json(abs_path: str, error: str, backend: Captioner, task: str) -> dict[str, object]:
    return {
        "path": abs_path,
        "error": error,
        "caption": None,
        "model": backend.model_id,
        "captioner": backend.name,
        "task": task,
    }
