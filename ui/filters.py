"""Turn the search page's filter widgets into store SearchFilters."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from picscribe.store import SearchFilters


@dataclass(frozen=True)
class CaptionerChoice:
    captioner: str
    model: str
    count: int

    @property
    def label(self) -> str:
        return f"{self.captioner} ({self.model}) · {self.count}"


def folder_choices(paths: Iterable[str], roots: Iterable[str]) -> list[str]:
    """The indexed roots and every folder holding an indexed image, sorted."""
    return sorted({os.path.dirname(p) for p in paths} | set(roots))


def build_filters(
    *,
    folder: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    has_text: bool = False,
    captioner: CaptionerChoice | None = None,
    place: str = "",
    camera: str = "",
) -> SearchFilters:
    """Dates are whole days, both ends included; an empty place or camera box filters nothing."""
    return SearchFilters(
        folder=folder or None,
        date_from=f"{date_from.isoformat()} 00:00:00" if date_from else None,
        date_to=f"{date_to.isoformat()} 23:59:59" if date_to else None,
        has_text=has_text,
        captioner=captioner.captioner if captioner else None,
        model=captioner.model if captioner else None,
        place=place.strip() or None,
        camera=camera.strip() or None,
    )
