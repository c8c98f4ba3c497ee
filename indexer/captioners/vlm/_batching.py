"""Run a batched function over many items, halving the batch on CUDA out-of-memory.

A VLM's memory need depends on the images (dynamic-resolution families turn
a big photo into thousands of tokens), so no batch size is right for every
collection. With ``batch_size="auto"`` the batcher starts from a guess,
halves on OOM and keeps the size that worked for the rest of the process.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

AUTO = "auto"

log = logging.getLogger(__name__)


def oom_errors() -> tuple[type[BaseException], ...]:
    """The exception types torch raises for device out-of-memory."""
    import torch

    # torch.OutOfMemoryError is the public name from torch 2.5; older releases only have the cuda one.
    types = {getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)}
    return tuple(t for t in types if t is not None)


def _free_device_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def parse_batch_size(value: int | str) -> int | str:
    """An int >= 1 or "auto"; strings of digits are accepted (they come from the CLI and config files)."""
    if isinstance(value, str):
        if value.strip().lower() == AUTO:
            return AUTO
        if not value.strip().isdigit():
            raise ValueError(f"batch_size must be a positive integer or 'auto', not {value!r}")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"batch_size must be a positive integer or 'auto', not {value!r}")
    return value


class AdaptiveBatcher:
    """Splits work into batches; with ``auto`` sizing, backs off on OOM.

    ``size`` is the batch size that will be tried next; after an OOM it stays
    at the size that fit, so later calls do not pay for the failure again.
    A fixed size never changes: an OOM then propagates, because the user
    asked for exactly that size.
    """

    def __init__(
        self,
        batch_size: int | str,
        *,
        auto_start: int,
        oom_types: tuple[type[BaseException], ...] | None = None,
        on_oom: Callable[[], None] = _free_device_memory,
    ) -> None:
        parsed = parse_batch_size(batch_size)
        self.auto = parsed == AUTO
        self.size: int = auto_start if self.auto else int(parsed)
        if self.size < 1:
            raise ValueError(f"auto_start must be >= 1, not {auto_start}")
        self._oom_types = oom_types
        self._on_oom = on_oom

    def _oom(self) -> tuple[type[BaseException], ...]:
        if self._oom_types is None:
            self._oom_types = oom_errors()
        return self._oom_types

    def run(self, items: Sequence[T], fn: Callable[[Sequence[T]], list[R]]) -> list[R]:
        """``fn`` over ``items`` in batches; results in input order, one per item."""
        results: list[R] = []
        start = 0
        while start < len(items):
            chunk = items[start : start + self.size]
            failed = False
            try:
                out = fn(chunk)
            except self._oom() as exc:
                if not self.auto or self.size == 1:
                    raise
                log.warning("out of memory at batch size %d (%s); retrying at %d", self.size, exc, self.size // 2)
                failed = True
            if failed:
                # Outside the except block, so the traceback's frames (and the
                # activations they hold) are gone before memory is freed.
                self.size = max(1, self.size // 2)
                self._on_oom()
                continue
            if len(out) != len(chunk):
                raise RuntimeError(f"batch function returned {len(out)} results for {len(chunk)} items")
            results.extend(out)
            start += len(chunk)
        return results
