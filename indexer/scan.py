"""Walk folders and list the image files in them, cheaply.

Only ``stat`` is used for files the index already knows; anything else is
judged by extension or, failing that, by its first bytes. Symlinks to folders
are followed once: a loop is cut where it closes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .regular_file import file_kind
from .sniff import JPEG_EXTENSIONS, RAW_EXTENSIONS, has_image_extension, looks_like_image


@dataclass(frozen=True)
class FileEntry:
    path: str  # absolute, not resolved: the path the user knows
    size: int
    mtime_ns: int


@dataclass
class ScanResult:
    files: list[FileEntry] = field(default_factory=list)
    # Image candidates that could not even be stat'ed: (path, reason).
    errors: list[tuple[str, str]] = field(default_factory=list)
    # Folders that could not be listed; known files under them are kept,
    # not treated as deleted.
    unreadable_dirs: list[str] = field(default_factory=list)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def scan(
    roots: Iterable[Path | str],
    known_paths: frozenset[str] | set[str] = frozenset(),
    *,
    within: Iterable[Path | str] | None = None,
) -> ScanResult:
    """List image files under each root (a folder or a single file).

    A folder symlink is followed only when its target lies inside ``within``
    (default: the roots being scanned), both resolved: a link out of the
    library would index, and so expose, what the user never chose. It is
    reported as an error instead. With ``within`` given (a watcher passes the
    library's roots and names changed paths one by one), each root itself
    must also resolve inside it.
    """
    roots = list(roots)
    allowed = tuple(os.path.realpath(r) for r in (roots if within is None else within))
    result = ScanResult()
    seen_dirs: set[tuple[int, int]] = set()
    for root in roots:
        root_abs = os.path.abspath(root)
        is_dir = os.path.isdir(root_abs)
        if within is not None and _named_outside(root_abs, is_dir, allowed):
            result.errors.append((printable_path(root_abs), _OUTSIDE if is_dir else _OUTSIDE_FILE))
        elif is_dir:
            _walk(root_abs, result, seen_dirs, known_paths, allowed)
        elif not jpeg_beside_raw(root_abs):
            # Named alone (a watcher names changed files one by one), the rule
            # is the same as in a folder walk, or the two would disagree.
            _add_file(root_abs, result, known_paths, explicit=True)
    return result


_OUTSIDE = "symlinked folder leads outside the folders being indexed; not indexed"
_OUTSIDE_FILE = "reached through a symlinked folder that leads outside the folders being indexed; not indexed"


def _named_outside(path: str, is_dir: bool, allowed: tuple[str, ...]) -> bool:
    """A folder, or a file's folder, that resolves outside ``allowed``: only a
    symlink on the way gets it there. A file symlink whose folder is inside
    stays allowed, as in a folder walk."""
    folder = path if is_dir else os.path.dirname(path)
    return _leads_outside(folder, allowed) and (is_dir or _leads_outside(path, allowed))


def _leads_outside(folder: str, allowed: tuple[str, ...]) -> bool:
    real = os.path.realpath(folder)
    return not any(real == a or real.startswith(a.rstrip(os.sep) + os.sep) for a in allowed)


def _walk(
    top: str,
    result: ScanResult,
    seen_dirs: set[tuple[int, int]],
    known: frozenset[str] | set[str],
    allowed: tuple[str, ...],
) -> None:
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError as exc:
            result.unreadable_dirs.append(folder)
            result.errors.append((folder, f"cannot read folder: {_reason(exc)}"))
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            continue  # a symlink brought us back to a folder already walked
        seen_dirs.add(key)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            result.unreadable_dirs.append(folder)
            result.errors.append((folder, f"cannot read folder: {_reason(exc)}"))
            continue
        subdirs = []
        names = {entry.name for entry in entries}
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden files and folders (.git, .thumbnails, ._AppleDouble)
            try:
                is_dir = entry.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            if is_dir and entry.is_symlink() and _leads_outside(entry.path, allowed):
                result.errors.append((printable_path(entry.path), _OUTSIDE))
            elif is_dir:
                subdirs.append(entry.path)
            elif not jpeg_beside_raw(entry.path, names):
                _add_file(entry.path, result, known, explicit=False)
        stack.extend(reversed(subdirs))


def jpeg_beside_raw(path: str, siblings: set[str] | None = None) -> bool:
    """True for a camera RAW with a same-named JPEG beside it (photo.CR2 and
    photo.jpg): the JPEG is indexed and the RAW skipped, as rclip does. The
    camera (or the user) already made the picture; two rows of one photo
    would crowd search results.

    ``siblings``, the names in the file's folder, saves the stats when a
    folder listing is at hand.
    """
    stem, ext = os.path.splitext(path)
    if ext.lower() not in RAW_EXTENSIONS:
        return False
    folder, base = os.path.split(stem)
    names = [base + e for e in JPEG_EXTENSIONS] + [base + e.upper() for e in JPEG_EXTENSIONS]
    if siblings is not None:
        return any(name in siblings for name in names)
    return any(os.path.isfile(os.path.join(folder, name)) for name in names)


def _add_file(path: str, result: ScanResult, known: frozenset[str] | set[str], *, explicit: bool) -> None:
    candidate = explicit or path in known or has_image_extension(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        # A dangling or looping symlink: report it only if it claims to be an image.
        if candidate:
            result.errors.append((printable_path(path), _reason(exc)))
        return
    if not stat.S_ISREG(st.st_mode):
        # A FIFO, a device or a socket (or a symlink to one) is never opened:
        # it could block or never end. One that claims to be an image is
        # reported, so that `index fifo.jpg` does not say "no images found".
        if candidate:
            result.errors.append((printable_path(path), f"not a regular file ({file_kind(st.st_mode)})"))
        return
    if not candidate and not looks_like_image(Path(path)):
        return
    if not is_utf8(path):
        # A name in a legacy encoding (say Latin-1 from an old archive) holds
        # surrogate escapes that SQLite cannot store: written as is, it would
        # fail the whole batch. Record it under a printable form instead.
        result.errors.append((printable_path(path), "file name is not valid UTF-8; rename the file to index it"))
        return
    result.files.append(FileEntry(path, st.st_size, st.st_mtime_ns))


def is_utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_path(path: str) -> str:
    """``path`` with undecodable bytes shown as ``\\xNN``: storable, and readable."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
