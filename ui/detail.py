"""The image page's model: one indexed photo with all the index knows about it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from picscribe.indexer import TASK_ALT_TEXT, TASK_CAPTION, TASK_DETAILED
from picscribe.store import Place, Store

from .exif import PhotoExif, read_exif


@dataclass(frozen=True)
class CaptionLine:
    task: str
    text: str
    captioner: str
    model: str
    human: bool
    current: bool
    created_at: str

    @property
    def source(self) -> str:
        who = "written by a person" if self.human else "generated"
        return f"{self.captioner} ({self.model}), {who}, {self.created_at}"


@dataclass(frozen=True)
class DetailView:
    path: str
    name: str
    folder: str
    width: int | None
    height: int | None
    size: int
    #: The caption search uses; "" when the image has none yet.
    caption: str
    caption_is_human: bool
    captions: tuple[CaptionLine, ...]
    detailed: str | None
    alt_text: str
    ocr_text: str
    tags: tuple[str, ...]
    objects: tuple[tuple[str, int], ...]
    exif: PhotoExif
    #: "Lisbon, Portugal": where the index places the photo by its GPS; None without one.
    place: str | None = None


def detail_view(store: Store, path: str) -> DetailView | None:
    """None for a path the index does not hold as a good image."""
    detail = store.image_detail(path)
    if detail is None or detail.status != "ok":
        return None
    lines = tuple(
        CaptionLine(c.task, c.text, c.captioner, c.model_id, c.human, c.current, c.created_at) for c in detail.captions
    )
    current = detail.current
    detailed = _newest(lines, TASK_DETAILED)
    alt = _newest(lines, TASK_ALT_TEXT)
    return DetailView(
        path=path,
        name=os.path.basename(path),
        folder=os.path.dirname(path),
        width=detail.width,
        height=detail.height,
        size=detail.size,
        caption=current.text if current else "",
        caption_is_human=bool(current and current.human),
        captions=tuple(c for c in lines if c.task == TASK_CAPTION) + tuple(c for c in lines if c.task != TASK_CAPTION),
        detailed=detailed,
        # No captioner wrote alt text: the short caption is the best there is.
        alt_text=alt or (current.text if current else ""),
        ocr_text=current.ocr_text if current else "",
        tags=current.tags if current else (),
        objects=current.objects if current else (),
        exif=read_exif(path),
        place=_place_name(detail.details.place if detail.details else None),
    )


def _place_name(place: Place | None) -> str | None:
    """City, region and country, each once ("Lisbon, Portugal" when the region is the city)."""
    if place is None:
        return None
    names = dict.fromkeys(x for x in (place.city, place.region, place.country or place.country_code) if x)
    return ", ".join(names) or None


def _newest(lines: tuple[CaptionLine, ...], task: str) -> str | None:
    """Human text first, then the newest generated."""
    found = [c for c in lines if c.task == task]
    if not found:
        return None
    return max(found, key=lambda c: (c.human, c.created_at)).text


def tag_chips(tags: Sequence[str]) -> str:
    """Tags as markdown code chips that never break inside a label.

    A space inside a label ("dining table") becomes a no-break space, so a
    line wraps only between chips. Markdown is not read inside a code span,
    so nothing needs escaping but the backtick that would end it.
    """
    return " ".join("`" + tag.replace("`", "'").replace(" ", "\u00a0") + "`" for tag in tags if tag.strip())
