"""Thumbnails made once and kept on disk, so a rerun never decodes a full-size photo."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from picscribe.indexer.pixels import shrink, to_rgb, upright
from picscribe.indexer.raw import RawPreviewError, embedded_preview
from picscribe.indexer.regular_file import open_regular_file
from picscribe.indexer.sniff import is_raw
from picscribe.indexer.warning_guard import ignoring_warnings

_ORIENTATION = 0x0112
#: Enough of a file to tell a RAW from its first bytes.
_HEAD_BYTES = 64

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
            # Never a plain open(): a FIFO put where the photo was would block it for ever.
            f, st = open_regular_file(path)
        except OSError:
            return None
        with f:
            target = self._file_for(path, st)
            if target.is_file():
                return target
            try:
                thumb = self._make(f, path)
            except (
                OSError,
                UnidentifiedImageError,
                ValueError,
                SyntaxError,
                Image.DecompressionBombError,
                RawPreviewError,
                ImportError,
            ):
                return None
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".thumb-", suffix=".jpg", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                thumb.save(out, "JPEG", quality=82)
            os.replace(tmp, target)  # a reader never sees half a file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.made += 1
        return target

    def _make(self, f: BinaryIO, path: str) -> Image.Image:
        # A camera RAW is shown as the index saw it: its embedded preview.
        head = f.read(_HEAD_BYTES)
        f.seek(0)
        default_orientation = None
        if is_raw(path, head):
            preview = embedded_preview(f.read())
            default_orientation = preview.orientation
            source: BinaryIO | Image.Image
            if preview.jpeg is not None:
                source = io.BytesIO(preview.jpeg)
            else:
                assert preview.bitmap is not None  # a RawPreview holds one or the other
                source = preview.bitmap
        else:
            source = f
        # Pillow leaves a file it did not open to its owner, so nothing is closed here.
        # Opening a JPEG reads its EXIF, which may be damaged (see below).
        with ignoring_warnings(Image.DecompressionBombWarning, UserWarning):
            img = source if isinstance(source, Image.Image) else Image.open(source)
        # JPEG can decode straight at a fraction of full size: much faster.
        img.draft("RGB", (self.edge * 2, self.edge * 2))
        img.load()
        # Pillow warns about damaged EXIF ("Corrupt EXIF data") and reads what it can.
        with ignoring_warnings(UserWarning):
            orientation = img.getexif().get(_ORIENTATION) or default_orientation
        # Smaller before turning and converting, which then copy little; to_rgb
        # scales 16-bit and float pixels where convert("RGB") clips them to white.
        thumb = to_rgb(upright(shrink(img, self.edge), orientation))
        thumb.thumbnail((self.edge, self.edge))
        return thumb
