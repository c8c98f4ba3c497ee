"""The files next to an image that hold text about it, and how to notice an edit.

Caption files (``photo.txt``, ``photo.caption``, ``photo.jpg.txt``, as
training sets keep them) and XMP sidecars (``photo.jpg.xmp``, ``photo.xmp``)
belong to a path, not to the image's bytes: editing one leaves the image
unchanged, and so invisible to an index that keys captions by content.

The design chosen: each image row records a *sidecar signature*, the names,
sizes and mtimes of the sidecar files that exist next to it, taken when it
was indexed by a captioner that reads them. A later run, or a watcher's
event on the sidecar itself, compares it and reads the image's text again
when it differs. The text itself is still stored per content, like every
caption; two copies of one photo with different sidecars get the text of the
one read last (see README, "Captions people wrote").
"""

from __future__ import annotations

import os

from .xmp_sidecar import xmp_sidecar_paths

#: Extensions of the files that can hold text about an image next to it.
SIDECAR_EXTENSIONS = frozenset({".txt", ".caption", ".xmp"})


def caption_file_paths(image_path: str) -> list[str]:
    """Caption files for ``image_path``, in order of preference."""
    stem = os.path.splitext(image_path)[0]
    candidates = [stem + ".txt", stem + ".caption", image_path + ".txt"]
    return [c for i, c in enumerate(candidates) if c != image_path and c not in candidates[:i]]


def sidecar_signature(image_path: str) -> str | None:
    """Name, size and mtime of each sidecar next to ``image_path``; None when there is none.

    A stat per candidate, no reads: cheap enough to take for every file of
    every run. An edit that keeps both size and mtime (rare, and only by
    tools that set mtime back on purpose) goes unnoticed.
    """
    parts = []
    for path in caption_file_paths(image_path) + xmp_sidecar_paths(image_path):
        try:
            st = os.stat(path)
        except OSError:
            continue
        parts.append(f"{os.path.basename(path)}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts) or None


def is_sidecar_name(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in SIDECAR_EXTENSIONS


def images_for_sidecar(sidecar_path: str) -> list[str]:
    """The image files ``sidecar_path`` may describe, for a watcher that saw it change.

    ``photo.jpg.xmp`` and ``photo.jpg.txt`` name their image; ``photo.xmp``,
    ``photo.txt`` and ``photo.caption`` belong to whichever ``photo.*`` sits
    beside them. Only files that exist and have a sidecar relation back to
    ``sidecar_path`` are returned.
    """
    folder, name = os.path.split(sidecar_path)
    stem = os.path.splitext(name)[0]
    try:
        siblings = [e.name for e in os.scandir(folder or ".") if e.name.startswith(stem) and e.name != name]
    except OSError:
        return []
    out = []
    for sibling in sorted(siblings):
        candidate = os.path.join(folder, sibling)
        if is_sidecar_name(candidate) or not os.path.isfile(candidate):
            continue
        related = caption_file_paths(candidate) + xmp_sidecar_paths(candidate)
        if sidecar_path in related:
            out.append(candidate)
    return out
