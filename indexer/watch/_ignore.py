"""Which paths a watcher leaves alone: hidden files, editors' lock files,
half-finished downloads. Glob patterns, matched against each name below a root."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

#: Hidden files and folders, Office lock files, and the names browsers and
#: copy tools give a file until it is complete.
DEFAULT_IGNORE: tuple[str, ...] = (".*", "~$*", "*.tmp", "*.part", "*.crdownload")


class IgnorePatterns:
    """``ignored(path)`` is true when any name between a root and the file matches.

    Only the names below the root count, so a library that itself lives in a
    hidden folder (~/.local/share/photos) is still watched. Matching ignores
    case: ``IMG_1.JPG.PART`` is as unfinished as ``img_1.jpg.part``.
    """

    def __init__(self, patterns: Iterable[str], roots: Sequence[str] = ()) -> None:
        self.patterns = tuple(dict.fromkeys(patterns))
        self._lowered = tuple(p.lower() for p in self.patterns)
        # Longest first, so a root nested in another gets its own names.
        self._roots = sorted((os.path.abspath(r).rstrip("/") for r in roots), key=len, reverse=True)

    def ignored(self, path: str) -> bool:
        return any(self._matches(name) for name in self._names_below_root(path))

    def accepts(self, path: str) -> bool:
        return not self.ignored(path)

    def _matches(self, name: str) -> bool:
        lowered = name.lower()
        return any(fnmatchcase(lowered, p) for p in self._lowered)

    def _names_below_root(self, path: str) -> list[str]:
        path = os.path.abspath(path)
        for root in self._roots:
            if path.startswith(root + "/"):
                return path[len(root) + 1 :].split("/")
        return [os.path.basename(path)]
