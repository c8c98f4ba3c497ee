"""Helpers shared by the command modules."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import wraps
from typing import Any, TypeVar

import click

from indexer import CaptionerUnavailable
from indexer.registry import BadCaptionerSpec
from search import EmbedderUnavailable
from store import SchemaTooNew, Store, StoreError

from .. import app
from ..config import Config

F = TypeVar("F", bound=Callable[..., Any])

DEVICE = click.Choice(["auto", "cpu", "cuda"])


class BatchSize(click.ParamType):
    """A positive int, or "auto" (a VLM starts high and halves on CUDA out-of-memory)."""

    name = "N|auto"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        if text.isdigit() and int(text) >= 1:
            return int(text)
        self.fail(f"{value!r} is not a positive integer or 'auto'", param, ctx)


BATCH_SIZE = BatchSize()


def batch_overrides(batch_size: int | str | None) -> dict[str, object]:
    """--batch-size N fixes both the pipeline's batches and a VLM's generate()
    batches; --batch-size auto leaves the pipeline at its setting and lets
    the VLM find the size that fits."""
    if batch_size is None:
        return {}
    if batch_size == "auto":
        return {"vlm_batch_size": "auto"}
    return {"batch_size": batch_size, "vlm_batch_size": str(batch_size)}


@dataclass
class Context:
    cfg: Config

    def with_overrides(self, **values: object) -> Config:
        return replace(self.cfg, **{k: v for k, v in values.items() if v is not None})


pass_context = click.make_pass_decorator(Context)


def library_errors(func: F) -> F:
    """Turn expected library failures into one-line click errors (exit 1 or 2)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BadCaptionerSpec as exc:
            raise click.BadParameter(str(exc), param_hint="--captioner") from exc
        except (CaptionerUnavailable, EmbedderUnavailable, StoreError, SchemaTooNew) as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


@contextmanager
def opened_store(cfg: Config, *, create: bool = True) -> Iterator[Store]:
    store = app.open_store(cfg, create=create)
    try:
        yield store
    finally:
        store.close()


def say(message: str) -> None:
    """A status line for humans, on stderr so stdout stays machine-readable."""
    click.echo(message, err=True)


def emit_json(value: object) -> None:
    click.echo(json.dumps(value, ensure_ascii=False))


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()
