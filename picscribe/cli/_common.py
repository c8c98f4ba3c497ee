"""Helpers shared by the command modules."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

import click

from picscribe.indexer import Captioner, CaptionerUnavailable
from picscribe.indexer.ray_engine import RayEngineError
from picscribe.indexer.registry import BadCaptionerSpec
from picscribe.search import EmbedderUnavailable
from picscribe.store import SchemaTooNew, StoreError

from ..config import Config, ConfigError, apply_settings

F = TypeVar("F", bound=Callable[..., Any])

DEVICE = click.Choice(["auto", "cpu", "cuda"])
DEVICE_HELP = "Where local models run: auto (CUDA when there is one, else the CPU), cpu, or cuda [default: auto]."


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
            click.option(
                "--concurrency",
                type=positive,
                default=None,
                help="API captioners: requests in flight at once [default: 4].",
            ),
            click.option(
                "--max-requests",
                type=positive,
                default=None,
                help="API captioners: stop cleanly after this many requests.",
            ),
            click.option(
                "--max-tokens",
                type=positive,
                default=None,
                help="API captioners: stop cleanly once this many tokens (in + out) are used.",
            ),
        ]
    ):
        func = option(func)
    return func


def api_overrides(concurrency: int | None, max_requests: int | None, max_tokens: int | None) -> dict[str, object]:
    return {"api_concurrency": concurrency, "max_requests": max_requests, "max_tokens": max_tokens}


def check_budget_applies(cfg: Config, captioner: Captioner) -> None:
    """A budget on a captioner that sends no requests is a mistake worth saying, not ignoring."""
    if (cfg.max_requests or cfg.max_tokens) and not captioner.metered:
        raise click.UsageError(
            "--max-requests/--max-tokens apply to API captioners (openai, ollama, anthropic, gemini); "
            f"{captioner.name} sends no requests"
        )


@dataclass
class Context:
    cfg: Config

    def with_overrides(self, **values: object) -> Config:
        """The command's flags on top of the settings; a flag left unset (None) keeps the setting."""
        return apply_settings(self.cfg, values, source="command line")


pass_context = click.make_pass_decorator(Context)


def library_errors(func: F) -> F:
    """Turn expected library failures into one-line click errors (exit 1 or 2)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BadCaptionerSpec as exc:
            raise click.BadParameter(str(exc), param_hint="--captioner") from exc
        except ConfigError as exc:
            raise click.UsageError(printable(exc)) from exc
        except (CaptionerUnavailable, EmbedderUnavailable, StoreError, SchemaTooNew, RayEngineError) as exc:
            raise click.ClickException(printable(exc)) from exc

    return wrapper  # type: ignore[return-value]


# Characters a terminal acts on instead of showing: C0 controls (ESC starts
# CSI/OSC sequences that clear the screen or set the window title, even
# when click strips colours from piped output), DEL, C1 controls, line and
# paragraph separators, bidi marks and overrides (they reorder what follows),
# and lone surrogates (a non-UTF-8 file name, which would not even encode).
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # surrogateescape: the undecodable byte itself
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: object, *, multiline: bool = False) -> str:
    """``text`` safe to print for a human: every control character shown as an escape (ESC as \\x1b).

    ``multiline`` keeps newlines and tabs, for free text such as a model's
    answer; paths and one-line fields escape them too, so a name cannot fake
    a line of output. Only for human-readable output: ``--json`` prints the
    exact text (see emit_json).
    """
    if multiline:
        return _UNSHOWABLE.sub(lambda m: m.group() if m.group() in "\n\t" else _visible(m), str(text))
    return _UNSHOWABLE.sub(_visible, str(text))


class PrintableFormatter(logging.Formatter):
    """Log lines name paths too (a cache moved aside, a file that failed): escape them like any other output."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record), multiline=True)


def require_utf8_paths(paths: Iterable[os.PathLike[str] | str], param_hint: str = "PATH") -> None:
    """Refuse a path the index cannot store: SQLite text is UTF-8, and a name in
    a legacy encoding (surrogate escapes) fails the first query with a traceback.
    Files with such names inside a folder are reported one by one by the scan."""
    for path in paths:
        absolute = os.path.abspath(path)
        try:
            absolute.encode("utf-8")
        except UnicodeEncodeError:
            raise click.BadParameter(
                f"{printable(absolute)}: the path is not valid UTF-8, so the index cannot store it; rename it",
                param_hint=param_hint,
            ) from None


def say(message: str) -> None:
    """A status line for humans, on stderr so stdout stays machine-readable."""
    click.echo(message, err=True)


# json.dumps escapes C0 controls but, with ensure_ascii=False, passes DEL,
# C1 controls (U+009B is a CSI), separators, bidi controls and lone
# surrogates through raw. They can only occur inside JSON strings, so
# escaping them there keeps the output exact: it decodes to the same text.
_JSON_UNSHOWABLE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def emit_json(value: object) -> None:
    text = json.dumps(value, ensure_ascii=False)
    click.echo(_JSON_UNSHOWABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()
