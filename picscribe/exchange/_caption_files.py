"""``picscribe export --format txt``: kohya-style caption files, one ``IMAGE.txt`` per image.

kohya's sd-scripts, and the trainers that followed it, pair ``photo.jpg``
with ``photo.txt`` in the same folder: the image's name with its suffix
replaced, holding one line of caption. The files go beside the images, or
under an output folder that mirrors the folders below the library's roots:
with one root, ``OUT/<path below the root>``; with several, the path below
the folder that holds them all (roots ``/p/2020`` and ``/p/2021`` give
``OUT/2020/...`` and ``OUT/2021/...``). Either way a file maps to one
place, so the only clash is two images of one folder with one stem
(``photo.jpg`` and ``photo.png``): neither gets a file, each is reported.

An existing file is never replaced unless asked (``overwrite``): it may be
a caption a person wrote. A file that cannot be written (a read-only
folder) is reported and the others go on.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picscribe.store import ExportRow, Store, process_umask

#: Rows read from SQLite at once.
_CHUNK = 2000


@dataclass
class CaptionFilesReport:
    """What ``export --format txt`` did, file by file where it matters."""

    #: The output folder; None when the files went beside the images.
    out: str | None
    written: int = 0
    #: Caption files that already existed and were left as they were.
    skipped_files: list[str] = field(default_factory=list)
    #: (image, caption file or None where it has none, why).
    errors: list[tuple[str, str | None, str]] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.skipped_files)

    @property
    def failed(self) -> int:
        return len(self.errors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "txt",
            "out": self.out,
            "written": self.written,
            "skipped": self.skipped,
            "failed": self.failed,
            "skipped_files": list(self.skipped_files),
            "errors": [{"path": image, "file": file, "error": why} for image, file, why in self.errors],
        }


def export_caption_files(
    store: Store, out_dir: Path | None = None, *, overwrite: bool = False, tags: bool = False
) -> CaptionFilesReport:
    """Write ``IMAGE.txt`` with the searched caption of every ok image of ``store``.

    ``out_dir``: where to write (created as needed), mirroring the folders
    below the library's roots; None: beside each image. ``tags``: append
    the image's tags, best first ("caption, tag1, tag2"). Every image of
    the index is held in memory first (path and text), to find the clashes
    before anything is written.
    """
    rows = [(row.path, caption_line(row, tags=tags)) for chunk in store.export_rows(_CHUNK) for row in chunk]
    out = out_dir.expanduser().absolute() if out_dir is not None else None
    report = CaptionFilesReport(out=None if out is None else str(out))
    base = None if out is None else _common_folder(store.library_roots(), {path for path, _ in rows})
    targets: dict[str, list[tuple[str, str]]] = {}
    for path, text in rows:
        if out is None:
            targets.setdefault(caption_file_for(path), []).append((path, text))
        elif base is None or not _inside(path, base):
            report.errors.append((path, None, "not under the library's folders: export beside the images instead"))
        else:
            targets.setdefault(caption_file_for(str(out / os.path.relpath(path, base))), []).append((path, text))
    for target, images in targets.items():
        if len(images) > 1:
            names = " and ".join(os.path.basename(p) for p, _ in images)
            for path, _ in images:
                report.errors.append(
                    (path, target, f"{os.path.basename(target)} would caption both {names}: rename one of them")
                )
            continue
        ((path, text),) = images
        try:
            if _write(Path(target), text, overwrite=overwrite, make_folder=out is not None):
                report.written += 1
            else:
                report.skipped_files.append(target)
        except OSError as exc:
            report.errors.append((path, target, exc.strerror or str(exc)))
    report.errors.sort(key=lambda error: error[0])
    return report


def caption_file_for(image_path: str) -> str:
    """``photo.jpg`` -> ``photo.txt``, as kohya's trainers look it up."""
    return os.path.splitext(image_path)[0] + ".txt"


def caption_line(row: ExportRow, *, tags: bool) -> str:
    """The caption on one line (kohya reads the first); when asked, the tag
    labels after it, comma-separated as kohya's tag lists are, the caption's
    closing full stop dropped ("A dog on a sofa, dog, sofa")."""
    caption = " ".join(row.caption.split())
    labels = dict.fromkeys(" ".join(label.split()) for label, _ in row.tags) if tags else {}
    parts = [label for label in labels if label]
    if parts:
        caption = caption.removesuffix(".")
    return ", ".join([caption, *parts]) + "\n"


def _common_folder(roots: Sequence[str], image_paths: set[str]) -> str | None:
    """The folder ``--out`` mirrors: the one root (its folder, when the root is
    a file), or the deepest folder holding all of them; None without roots."""
    folders = [os.path.dirname(root) if root in image_paths else root for root in roots]
    if not folders:
        return None
    return os.path.commonpath(folders)


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")


def _write(target: Path, text: str, *, overwrite: bool, make_folder: bool) -> bool:
    """Write ``text`` to ``target``; False (and nothing written) if it exists and ``overwrite`` is off."""
    if make_folder:
        target.parent.mkdir(parents=True, exist_ok=True)
    if not overwrite:
        # O_EXCL: a file that appears meanwhile is not replaced either.
        try:
            stream = target.open("x", encoding="utf-8", newline="\n")
        except FileExistsError:
            return False
        try:
            with stream:
                stream.write(text)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return True
    # Replaced whole, so a reader never sees half the new text or none of the old.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.chmod(tmp, 0o666 & ~process_umask())  # mkstemp makes 0600 files
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True
