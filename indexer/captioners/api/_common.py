"""What every API backend shares: image encoding, prompts, cleaning, the
request thread pool, and turning provider failures into clear errors.

A provider module supplies only ``_connect`` (build its client) and
``_complete`` (one image, one prompt -> one ``Reply``).
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import io
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar, Self, TypeVar
from urllib.parse import urlsplit

from PIL import Image

from ...captioning import (
    KNOWN_TASKS,
    TASK_ALT_TEXT,
    TASK_ASK,
    TASK_CAPTION,
    TASK_DETAILED,
    TASK_OCR,
    Answer,
    BaseCaptioner,
    CaptionerOptions,
    CaptionerUnavailable,
    CaptionResult,
    PartialBatch,
    Usage,
)
from .._cleaning import clean_output
from .._prompts import prompt_for
from ._meter import DEFAULT_MAX_CONSECUTIVE_FAILURES, Meter

#: Prompts are the chat instructions the local VLM backend uses.
PROMPT_STYLE = "chat"
INSTALL_HINT = "pip install 'picscribe[api]'"

#: Longest image side sent. Providers downscale further themselves (OpenAI
#: "high" detail tiles at 768 px, Claude at ~1568 px); 1024 keeps text
#: legible for OCR while keeping uploads small.
DEFAULT_MAX_SIDE = 1024
DEFAULT_CONCURRENCY = 4
DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 3
#: First back-off delay in seconds, where picscribe (not the client library) sets it.
DEFAULT_RETRY_DELAY = 1.0
JPEG_QUALITY = 85

#: Output token budgets per task when max_new_tokens is not given. More room
#: than the local VLM gets: hosted models are wordier, and a reply cut at the
#: limit is cleaned as truncated anyway.
MAX_TOKENS = {TASK_CAPTION: 256, TASK_ALT_TEXT: 256, TASK_DETAILED: 1024, TASK_OCR: 2048, TASK_ASK: 512}

T = TypeVar("T")

#: HTTP statuses no later request can fix: a refused key, a forbidden
#: resource, an unknown model. The run stops at the first one.
FATAL_STATUSES = frozenset({401, 403, 404})


class APIRequestError(RuntimeError):
    """One request failed for good (after the client's retries): the provider's own message, never a key."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def provider_message(body: object, fallback: object) -> str:
    """The human part of a provider's error body: {"error": {"message": ...}} and its variants."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
        if isinstance(body.get("message"), str):
            return body["message"]
    return str(fallback)


@dataclass(frozen=True)
class Reply:
    text: str
    #: Generation stopped at the token limit.
    truncated: bool = False
    #: Token counts as the provider reported them (None where it did not).
    input_tokens: int | None = None
    output_tokens: int | None = None


def missing(module: str) -> bool:
    """True when ``module`` cannot be imported (also when a test blocked it with sys.modules[name] = None)."""
    if module in sys.modules:
        return sys.modules[module] is None
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def import_client(module: str, package: str, backend: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise CaptionerUnavailable(
            f"the {backend} captioner needs the {package!r} package; install it with: {INSTALL_HINT}"
        ) from exc


def env(*names: str) -> str | None:
    """The first non-empty value among the environment variables ``names``."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def host_of(url: str) -> str:
    """'https://user:pw@api.example.com:8443/v1' -> 'api.example.com:8443' (no credentials in model ids)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host = parts.hostname or url
    return f"{host}:{parts.port}" if parts.port else host


def encode_jpeg(image: Image.Image, max_side: int = DEFAULT_MAX_SIDE, quality: int = JPEG_QUALITY) -> bytes:
    """RGB JPEG bytes, downscaled (never upscaled) so the longer side is at most ``max_side``."""
    if image.mode != "RGB":
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            # Transparent areas become white, not the black a bare convert() gives.
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            image = flat
        else:
            image = image.convert("RGB")
    if max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def backoff(attempt: int, first: float, cap: float = 30.0) -> float:
    """Exponential back-off with jitter, for providers whose client library does not retry."""
    delay = min(first * (2**attempt), cap)
    return delay * (0.75 + random.random() / 2)


def retrying(call: Callable[[], T], *, attempts: int, first_delay: float, retryable: Callable[[Exception], bool]) -> T:
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:
            if attempt + 1 >= attempts or not retryable(exc):
                raise
            time.sleep(backoff(attempt, first_delay))
    raise AssertionError("unreachable")


def run_all(jobs: Sequence[Callable[[], T]], workers: int) -> list[T | Exception]:
    """Run ``jobs`` in a small thread pool; one result or exception per job, in order.

    A job's failure does not cancel the others: an image the provider
    rejects must not cost the rest of the batch. Stopping (a refused key, a
    spent budget) is the Meter's business: once it has stopped, every job
    not yet started fails at once with CaptionerStopped, sending nothing.
    """

    def guarded(job: Callable[[], T]) -> T | Exception:
        try:
            return job()
        except Exception as exc:
            return exc

    if len(jobs) == 1:
        return [guarded(jobs[0])]
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs))), thread_name_prefix="picscribe-api") as pool:
        return list(pool.map(guarded, jobs))


class APICaptioner(BaseCaptioner):
    """Base of the API backends: one request per image, ``concurrency`` at a time."""

    name: ClassVar[str]
    tasks: ClassVar[frozenset[str]] = KNOWN_TASKS
    #: Import name and pip name of the client library.
    module: ClassVar[str]
    package: ClassVar[str]
    default_model: ClassVar[str]
    #: The provider's client, built by ``_connect``.
    _client: Any

    def __init__(
        self,
        *,
        device: str = "auto",  # the provider's hardware, not ours; accepted for the registry
        model: str | None = None,
        max_new_tokens: int | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        max_side: int = DEFAULT_MAX_SIDE,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_delay: float = DEFAULT_RETRY_DELAY,
        base_url: str | None = None,
        api_key: str | None = None,
        max_requests: int | None = None,
        max_tokens: int | None = None,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
    ) -> None:
        if max_new_tokens is not None and max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, not {max_new_tokens}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, not {concurrency}")
        if max_side < 16:
            raise ValueError(f"max_side must be >= 16, not {max_side}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, not {max_retries}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, not {timeout}")
        self.model = (model or "").strip() or self.default_model
        self.max_new_tokens = max_new_tokens
        self.concurrency = concurrency
        self.max_side = max_side
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.meter = Meter(
            self.name,
            max_requests=max_requests,
            max_tokens=max_tokens,
            max_consecutive_failures=max_consecutive_failures,
        )
        self._lib = import_client(self.module, self.package, self.name)
        self.base_url = self._connect(base_url=base_url, api_key=api_key)

    # --- provider hooks ------------------------------------------------
    def _connect(self, *, base_url: str | None, api_key: str | None) -> str:
        """Build the client (raising CaptionerUnavailable for a missing key); return the base URL in use."""
        raise NotImplementedError

    def _complete(self, jpeg: bytes, prompt: str, max_tokens: int) -> Reply:
        raise NotImplementedError

    def close(self) -> None:
        """Close the client's connection pool (every provider's client library has ``close``)."""
        self._client.close()

    # --- capabilities --------------------------------------------------
    can_ask = True
    #: Every image costs a request and tokens; ``usage`` counts them and budgets stop the run.
    metered = True

    @property
    def max_concurrency(self) -> int:
        return self.concurrency

    @classmethod
    def from_options(cls, *, device: str, model: str | None, options: CaptionerOptions) -> Self:
        return cls(
            device=device,
            model=model,
            max_new_tokens=options.max_new_tokens,
            concurrency=DEFAULT_CONCURRENCY if options.concurrency is None else options.concurrency,
            timeout=DEFAULT_TIMEOUT if options.timeout is None else options.timeout,
            max_requests=options.max_requests,
            max_tokens=options.max_tokens,
        )

    @classmethod
    def available(cls) -> str | None:
        if missing(cls.module):
            return f"the {cls.package!r} package is not installed; install it with: {INSTALL_HINT}"
        return None

    @property
    def usage(self) -> Usage:
        return self.meter.usage

    @property
    def model_id(self) -> str:
        return f"{self.name}:{self.model}@{host_of(self.base_url)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={host_of(self.base_url)!r})"

    # --- work ------------------------------------------------------------
    def _tokens(self, task: str) -> int:
        return self.max_new_tokens or MAX_TOKENS[task]

    def _one(self, image: Image.Image, prompt: str, task: str) -> Reply:
        jpeg = encode_jpeg(image, self.max_side)
        self.meter.start()
        try:
            reply = self._complete(jpeg, prompt, self._tokens(task))
        except APIRequestError as exc:
            stop = self.meter.failed(exc, fatal=exc.status in FATAL_STATUSES)
            if stop is not None:
                raise stop from exc
            raise
        self.meter.succeeded(reply.input_tokens, reply.output_tokens)
        if not reply.text.strip():
            why = " (stopped at the token limit; raise max_new_tokens)" if reply.truncated else ""
            raise APIRequestError(f"{self.name} model {self.model!r} returned an empty reply{why}")
        return reply

    def _replies(self, images: Sequence[Image.Image], prompts: Sequence[str], task: str) -> list[Reply | Exception]:
        jobs = [lambda i=image, p=prompt: self._one(i, p, task) for image, prompt in zip(images, prompts, strict=True)]
        return run_all(jobs, self.concurrency)

    def caption(self, images: Sequence[Image.Image], task: str = TASK_CAPTION) -> list[CaptionResult]:
        if task not in self.tasks:
            raise ValueError(f"{self.name} captioner does not support task {task!r}; supported: {sorted(self.tasks)}")
        if not images:
            return []
        prompt = prompt_for(PROMPT_STYLE, task)
        results: list[CaptionResult | Exception] = []
        for reply in self._replies(images, [prompt] * len(images), task):
            if isinstance(reply, Exception):
                results.append(reply)
                continue
            text = clean_output(reply.text, task, truncated=reply.truncated)
            extra: dict[str, object] = {"truncated": True} if reply.truncated else {}
            results.append(CaptionResult(text=text, ocr_text=text if task == TASK_OCR else "", extra=extra))
        return _complete_or_raise(results)

    def ask(self, images: Sequence[Image.Image], questions: Sequence[str]) -> list[Answer]:
        """One answer per (image, question) pair."""
        if len(images) != len(questions):
            raise ValueError(f"ask needs one question per image, got {len(images)} images and {len(questions)}")
        if not images:
            return []
        prompts = [prompt_for(PROMPT_STYLE, TASK_ASK, question) for question in questions]
        replies = self._replies(images, prompts, TASK_ASK)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return [
            Answer(clean_output(r.text, TASK_ASK, truncated=r.truncated), answered=True, source="vlm")
            for r in replies
            if isinstance(r, Reply)
        ]


def _complete_or_raise(results: list[CaptionResult | Exception]) -> list[CaptionResult]:
    """All results, or the error: a single image's own exception (nothing to
    keep), else PartialBatch carrying the images that did get a caption."""
    errors = [r for r in results if isinstance(r, Exception)]
    if not errors:
        return results  # type: ignore[return-value]
    if len(results) == 1:
        raise errors[0]
    raise PartialBatch(results)
