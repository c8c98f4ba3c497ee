"""Thumbnails made once and kept on disk, so a rerun never decodes a full-size photo."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

#: Longest side, in pixels: sharp on a high-density screen in a 4-column grid.
DEFAULT_EDGE = 384


class ThumbnailCache:
    def __init__(self, folder: Path, edge: int = DEFAULT_EDGE) -> None:
        self.folder = folder
        self.edge = edge
        #: Thumbnails this instance had to decode a photo for; tests read it.
        self.made = 0

    def _file_for(self, path: str, st: os.stat_result) -> Path:
        # Keyed by what the file is now: an edited photo gets a new thumbnail.
        key = hashlib.sha256(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{self.edge}".encode()).hexdigest()
        return self.folder / key[:2] / f"{key}.jpg"

    def get(self, path: str) -> Path | None:
        """The thumbnail of ``path``, made now if needed; None if it cannot be decoded."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        target = self._file_for(path, st)
        if target.is_file():
            return target
        try:
            with Image.open(path) as img:
                # JPEG can decode straight at a fraction of full size: much faster.
                img.draft("RGB", (self.edge * 2, self.edge * 2))
                thumb = ImageOps.exif_transpose(img).convert("RGB")
            thumb.thumbnail((self.edge, self.edge))
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".thumb-", suffix=".jpg", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                thumb.save(f, "JPEG", quality=82)
            os.replace(tmp, target)  # a reader never sees half a file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.made += 1
        return target
