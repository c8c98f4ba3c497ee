"""``SearchSource``: what the retriever reads from an index. The ``Store``
serves it, and so does ``SearchView``, which a cold ``picscribe search`` opens
instead: the same SQL (``_search_reads``) without importing SQLAlchemy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # annotations only: naming the protocol imports neither numpy nor FAISS
    import numpy as np

    from ._records import HitRow, SearchFilters
    from ._vector_index import VectorIndex


class SearchSource(Protocol):
    @property
    def embedder_name(self) -> str | None: ...

    def vector_index(self) -> VectorIndex: ...

    def allowed_caption_ids(self, filters: SearchFilters) -> np.ndarray: ...

    def filter_caption_ids(self, filters: SearchFilters, caption_ids: Sequence[int]) -> set[int]: ...

    def keyword_candidates(self, words: Sequence[str], depth: int, allowed: np.ndarray | None = None) -> list[int]: ...

    def keyword_scores(self, words: Sequence[str], caption_ids: Iterable[int]) -> dict[int, float]: ...

    def hit_rows(self, caption_ids: Sequence[int], filters: SearchFilters = ...) -> dict[int, list[HitRow]]: ...

    def current_caption_id_for_path(self, path: str) -> int | None: ...

    def picture_hashes(self, content_hashes: Iterable[str] | None = None) -> dict[str, bytes]: ...

    def object_labels(self) -> list[tuple[str, int]]: ...
