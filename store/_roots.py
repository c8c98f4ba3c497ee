"""The library's roots: the folders (or single files) the user asked to index.

They are what the UI may serve and index inside, so they are set only by the
user's own commands (``picscribe index``/``watch``), never widened by what a
browser asks for. Kept in the ``meta`` table as a JSON list of absolute,
normalised paths, spelled as the user spells them (not resolved: a root
reached through a symlink keeps its name; whoever checks containment
resolves both sides).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

#: The ``meta`` key holding the JSON list.
META_KEY = "library_roots"


def outermost(paths: Iterable[str]) -> tuple[str, ...]:
    """``paths`` without those inside another one, sorted."""
    roots: list[str] = []
    for path in sorted(set(paths)):
        if not any(inside(path, r) for r in roots):
            roots.append(path)
    return tuple(roots)


def inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or lies under it (lexically: resolve first where symlinks matter)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def normalised(paths: Iterable[str]) -> list[str]:
    return [os.path.normpath(os.path.abspath(p)) for p in paths]


def derived_from_images(image_paths: Iterable[str]) -> tuple[str, ...]:
    """For an index made before roots were recorded: the outermost folders holding its images."""
    return outermost(os.path.dirname(p) for p in image_paths)


def encode(roots: Iterable[str]) -> str:
    # ASCII escapes keep a root whose name is not valid UTF-8 storable.
    return json.dumps(list(roots))


def decode(value: str | None) -> tuple[str, ...] | None:
    """None when nothing was recorded (or what was is unreadable): derive instead."""
    if value is None:
        return None
    try:
        roots = json.loads(value)
    except ValueError:
        return None
    if not isinstance(roots, list) or not all(isinstance(r, str) and os.path.isabs(r) for r in roots):
        return None
    return tuple(roots)
