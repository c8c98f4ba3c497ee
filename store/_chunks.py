"""Long lists of ids cut to fit one statement's bound parameters."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

# SQLite caps bound parameters per statement; stay well below it.
_CHUNK = 500

_Item = TypeVar("_Item")


def chunks(items: Sequence[_Item], size: int = _CHUNK) -> Iterator[Sequence[_Item]]:
    """``items`` in slices small enough to bind one parameter per item."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
