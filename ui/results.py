"""The search page's model: a query (or "similar to this image") in, cards out."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from picscribe.search import Hit, Retriever
from picscribe.search.explain import Matched, match_spans
from picscribe.store import SearchFilters

from .pictures import picture
from .thumbnails import ThumbnailCache

#: Cards per page: the grid renders in the browser at a cost per card, so
#: more come on request ("Show more"), not up front.
PAGE = 24


class ResultState(Enum):
    EMPTY_QUERY = "empty-query"
    NO_RESULTS = "no-results"
    OK = "ok"


@dataclass(frozen=True)
class ResultCard:
    path: str
    name: str
    caption: str
    score: float
    #: None when the photo cannot be decoded any more: it changed since it was indexed (the card says so).
    thumbnail: str | None
    captioner: str
    model: str
    human: bool
    #: Other files of the same picture, folded into this card by search.
    copies: tuple[str, ...] = ()
    #: Scored too low to trust (see picscribe.search.weak_match): the closest there is, not a match.
    weak: bool = False
    #: Where the caption holds a query word: (start, end) offsets, for highlighting.
    highlights: tuple[tuple[int, int], ...] = ()
    #: Why it ranked, when the caption alone does not say: "matched text in photo", "taken in Lisbon".
    reason: str | None = None


@dataclass(frozen=True)
class ResultsView:
    state: ResultState
    cards: tuple[ResultCard, ...] = ()
    seconds: float = 0.0
    #: What was searched for, as the summary line says it.
    query: str = ""
    #: More hits than ``cards`` exist: a bigger limit shows them.
    has_more: bool = False

    @property
    def count(self) -> int:
        return len(self.cards)

    @property
    def all_weak(self) -> bool:
        return bool(self.cards) and all(card.weak for card in self.cards)

    def summary(self) -> str:
        plural = "" if self.count == 1 else "s"
        what = f" for “{self.query}”" if self.query else ""
        more = " (more below)" if self.has_more else ""
        if self.all_weak:
            # "24 results" would read as 24 answers to a query nothing matches.
            return f"No good matches{what}; the closest {self.count} are below{more} ({self.seconds * 1000:.0f} ms)"
        return f"{self.count} result{plural}{what}{more} in {self.seconds * 1000:.0f} ms"


class Results:
    """Builds the grid's cards. ``servable`` vetoes hits the UI may not show
    (see safe_paths), before a thumbnail is made: making one reads the file."""

    def __init__(self, retriever: Retriever, thumbs: ThumbnailCache, servable: Callable[[str], object]) -> None:
        self.retriever = retriever
        self.thumbs = thumbs
        self.servable = servable

    def for_query(self, query: str, filters: SearchFilters, limit: int = PAGE) -> ResultsView:
        if not query.strip():
            return ResultsView(ResultState.EMPTY_QUERY)
        started = time.perf_counter()
        hits = self.retriever.search(query, limit=limit + 1, filters=filters)
        return self._view(hits, limit, started, query.strip())

    def like(self, path: str, filters: SearchFilters, limit: int = PAGE) -> ResultsView:
        """Photos whose caption is closest to ``path``'s ("find similar")."""
        started = time.perf_counter()
        return self._view(self.retriever.similar(path, limit=limit + 1, filters=filters), limit, started)

    def _view(self, hits: list[Hit], limit: int, started: float, query: str = "") -> ResultsView:
        """Cards for the first ``limit`` hits; one hit more (asked for) tells that there are more."""
        allowed = [h for h in hits if self.servable(h.path)]
        cards = tuple(_card(h, self.thumbs) for h in allowed[:limit])
        state = ResultState.OK if cards else ResultState.NO_RESULTS
        return ResultsView(state, cards, time.perf_counter() - started, query, has_more=len(allowed) > limit)


def _card(hit: Hit, thumbs: ThumbnailCache) -> ResultCard:
    thumb = picture(thumbs, hit.path)
    return ResultCard(
        path=hit.path,
        name=os.path.basename(hit.path),
        caption=hit.caption,
        score=hit.score,
        thumbnail=str(thumb) if thumb else None,
        captioner=hit.captioner,
        model=hit.model,
        human=hit.human,
        copies=hit.copies,
        weak=hit.weak,
        highlights=tuple(match_spans(hit.caption, hit.matched.caption)),
        reason=match_reason(hit.matched, hit.place.label if hit.place else None),
    )


def match_reason(matched: Matched, place: str | None = None) -> str | None:
    """What a card says about why it ranked, when query words matched
    outside the caption: its place name ("taken in Lisbon, Portugal",
    ``place`` as the card names it) or the photo's text (OCR)."""
    in_caption = set(matched.caption)
    if any(w not in in_caption for w in matched.place):
        return "taken in " + (place or " ".join(w.capitalize() for w in matched.place))
    if any(w not in in_caption for w in matched.ocr):
        return "matched text in photo"
    return None
