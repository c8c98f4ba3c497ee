"""Which files the UI may serve: indexed images under the indexed roots, nothing else.

A path arrives from the browser (the ``?image=`` link of the detail page),
so it is untrusted. It must be spelled exactly as the index spells it
(absolute, normalised, no ``..``), be an indexed image, and still resolve
(after symlinks) inside one of the roots, so a symlink placed in a photo
folder that points elsewhere serves nothing.
"""

from __future__ import annotations

import os
from collections.abc import Container, Iterable


def indexed_roots(paths: Iterable[str], extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The outermost folders that hold indexed images (plus ``extra``, e.g. a
    watcher's roots), each resolved through symlinks."""
    folders = {os.path.realpath(os.path.dirname(p)) for p in paths}
    folders |= {os.path.realpath(r) for r in extra}
    roots: list[str] = []
    for folder in sorted(folders):
        if not any(_inside(folder, r) for r in roots):
            roots.append(folder)
    return tuple(roots)


def servable(requested: object, roots: Iterable[str], indexed: Container[str]) -> str | None:
    """``requested`` if the UI may read that file, else None."""
    if not isinstance(requested, str) or not requested or "\x00" in requested:
        return None
    if not os.path.isabs(requested) or os.path.normpath(requested) != requested:
        return None  # "..", "//", "/./": the index never spells a path like that
    if ".." in requested.split(os.sep) or requested not in indexed:
        return None
    real = os.path.realpath(requested)
    if not any(_inside(real, root) for root in roots):
        return None
    return requested if os.path.isfile(real) else None


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
