"""Which files the UI may serve (indexed images inside the library's roots)
and which folders it may index (only inside them).

A path arrives from the browser (the ``?image=`` link of the detail page,
the Index form's folder), so it is untrusted. An image must be spelled
exactly as the index spells it (absolute, normalised, no ``..``), be an
indexed image, and still resolve (after symlinks) inside one of the roots,
so a symlink placed in a photo folder that points elsewhere serves nothing.
The roots are the library's (Store.library_roots, config ``roots``): what
the browser asks for never widens them.
"""

from __future__ import annotations

import os
from collections.abc import Container, Iterable


def resolved_roots(roots: Iterable[str]) -> tuple[str, ...]:
    """``roots`` resolved through symlinks, outermost only: what containment is checked against."""
    resolved: list[str] = []
    for root in sorted({os.path.realpath(r) for r in roots}):
        if not any(_inside(root, r) for r in resolved):
            resolved.append(root)
    return tuple(resolved)


def inside_roots(path: str, roots: Iterable[str]) -> bool:
    """``path``, resolved through symlinks, lies inside one of the (resolved) ``roots``."""
    real = os.path.realpath(path)
    return any(_inside(real, root) for root in roots)


def servable(requested: object, roots: Iterable[str], indexed: Container[str]) -> str | None:
    """``requested`` if the UI may read that file, else None."""
    if not isinstance(requested, str) or not requested or "\x00" in requested:
        return None
    if not os.path.isabs(requested) or os.path.normpath(requested) != requested:
        return None  # "..", "//", "/./": the index never spells a path like that
    if ".." in requested.split(os.sep) or requested not in indexed:
        return None
    if not inside_roots(requested, roots):
        return None
    return requested if os.path.isfile(requested) else None


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
