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


def api_options(func: F) -> F:
    """--concurrency, --max-requests, --max-tokens: how an API captioner may spend.

    They arrive as ``concurrency``, ``max_requests``, ``max_tokens``; pass
    them through ``api_overrides``.
    """
    positive = click.IntRange(min=1)
    for option in reversed(
        [
            click.option("--concurrency", type=positive, default=None,
                         help="API captioners: requests in flight at once [default: 4]."),
            click.option("--max-requests", type=positive, default=None,
                         help="API captioners: stop cleanly after this many requests."),
            click.option("--max-tokens", type=positive, default=None,
                         help="API captioners: stop cleanly once this many tokens (in + out) are used."),
        ]
    ):
        func = option(func)
    return func


def api_overrides(concurrency: int | None, max_requests: int | None, max_tokens: int | None) -> dict[str, object]:
    return {"api_concurrency": concurrency, "max_requests": max_requests, "max_tokens": max_tokens}


def check_budget_applies(cfg: Config, captioner: object) -> None:
    """A budget on a captioner that sends no requests is a mistake worth saying, not ignoring."""
    if (cfg.max_requests or cfg.max_tokens) and not hasattr(captioner, "usage"):
        name = getattr(captioner, "name", "?")
        raise click.UsageError(
            f"--max-requests/--max-tokens apply to API captioners (openai, ollama, anthropic, gemini); {name} sends no requests"
        )


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


@contextmanager
def closed_after(captioner: object) -> Iterator[None]:
    """Release a backend's resources (an API client's connection pool) when the command is done."""
    try:
        yield
    finally:
        close = getattr(captioner, "close", None)
        if callable(close):
            close()


def say(message: str) -> None:
    """A status line for humans, on stderr so stdout stays machine-readable."""
    click.echo(message, err=True)


def emit_json(value: object) -> None:
    click.echo(json.dumps(value, ensure_ascii=False))


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()
