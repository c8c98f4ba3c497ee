"""What the browser gets of a photo: a downscaled copy made by a ThumbnailCache, or nothing.

An indexed file can change after it was indexed: overwritten by text,
replaced by something that is not an image, cut short. The page then says
so in words; a decoder's exception, whose traceback names server paths,
never reaches the browser.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .thumbnails import ThumbnailCache

log = logging.getLogger(__name__)

#: Longest side of the detail page's picture: Streamlit shrinks anything
#: wider than its content column (1,460 px) anyway.
PREVIEW_EDGE = 1600

CHANGED_SINCE_INDEXED = "This file changed since it was indexed, so it cannot be shown. Index its folder again."


def picture(cache: ThumbnailCache, path: str) -> Path | None:
    """The cached copy of ``path``, made now if needed; None if the file cannot be decoded any more."""
    try:
        return cache.get(path)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is "changed", shown in words
        log.warning("cannot show %s: %s: %s", path, type(exc).__name__, exc)
        return None
