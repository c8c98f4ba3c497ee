"""Answer a text query: embed it, take FAISS and BM25 candidates, fuse, join metadata."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from store import HitRow, SearchFilters, Store, TextEmbedder

from .fusion import DEFAULT_WEIGHTS, FusionWeights, fuse
from .query import fts_match


@dataclass(frozen=True)
class Hit:
    path: str
    score: float
    caption: str
    similarity: float  # cosine between query and caption embeddings
    keyword: float  # BM25 normalised to [0, 1] within this query's candidates
    captioner: str
    model: str
    human: bool
    tags: tuple[str, ...]
    #: (label, count) from the captioner's detector; empty for captioners without one.
    objects: tuple[tuple[str, int], ...]
    ocr_text: str
    width: int | None
    height: int | None
    taken_at: str | None

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["tags"] = list(self.tags)
        d["objects"] = [{"label": label, "count": count} for label, count in self.objects]
        d["score"] = round(self.score, 6)
        d["similarity"] = round(self.similarity, 6)
        d["keyword"] = round(self.keyword, 6)
        return d


class Retriever:
    def __init__(self, store: Store, embedder: TextEmbedder, weights: FusionWeights = DEFAULT_WEIGHTS) -> None:
        self.store = store
        self.embedder = embedder
        self.weights = weights

    def search(
        self,
        query: str,
        limit: int = 10,
        filters: SearchFilters = SearchFilters(),
        min_score: float | None = None,
    ) -> list[Hit]:
        if limit <= 0 or not query.strip():
            return []
        index = self.store.vector_index()
        qvec = self.embedder.embed([query])[0]
        allowed = None if filters.is_empty() else self.store.allowed_caption_ids(filters)
        depth = max(limit * self.weights.depth_factor, self.weights.min_depth)

        dense = dict(index.search(qvec, depth, allowed))
        match = fts_match(query)
        keyword = dict(self.store.keyword_search(match, depth)) if match else {}
        if allowed is not None:
            allowed_set = set(allowed.tolist())
            keyword = {i: s for i, s in keyword.items() if i in allowed_set}
        # Score every candidate on both signals, not just the retriever that found it.
        for cid in set(keyword) - set(dense):
            dense[cid] = float(np.dot(index.vector(cid), qvec))
        missing_kw = [cid for cid in dense if cid not in keyword]
        if match and missing_kw:
            keyword.update(self.store.keyword_search(match, len(missing_kw), missing_kw))

        top_kw = max(keyword.values(), default=0.0)
        fused = fuse(dense, keyword, self.weights)
        keyword_norm = {cid: s / top_kw for cid, s in keyword.items()} if top_kw else {}
        return self._hits(fused, dense, keyword_norm, filters, limit, min_score)

    def similar(self, path: str, limit: int = 10, filters: SearchFilters = SearchFilters()) -> list[Hit]:
        """Images whose searched caption is closest to ``path``'s own, by
        its stored vector (nothing is embedded). Other copies of the same
        content are left out: they are the image itself. Empty if ``path``
        has no searched caption."""
        cid = self.store.current_caption_id_for_path(path)
        if cid is None or limit <= 0:
            return []
        index = self.store.vector_index()
        allowed = None if filters.is_empty() else self.store.allowed_caption_ids(filters)
        depth = max(limit * self.weights.depth_factor, self.weights.min_depth)
        dense = {i: s for i, s in index.search(index.vector(cid), depth + 1, allowed) if i != cid}
        return self._hits(dense, dense, {}, filters, limit, None)

    def _hits(
        self,
        scores: dict[int, float],
        dense: dict[int, float],
        keyword: dict[int, float],
        filters: SearchFilters,
        limit: int,
        min_score: float | None,
    ) -> list[Hit]:
        """Join the best-scored caption ids with their image rows, best first."""
        ranked = sorted(scores, key=lambda cid: -scores[cid])
        rows = self.store.hit_rows(ranked, filters)
        hits: list[Hit] = []
        for cid in ranked:
            score = scores[cid]
            if min_score is not None and score < min_score:
                break
            for row in rows.get(cid, ()):
                hits.append(_hit(row, score, dense.get(cid, 0.0), keyword.get(cid, 0.0)))
            if len(hits) >= limit:
                break
        return hits[:limit]

def _hit(row: HitRow, score: float, similarity: float, keyword: float) -> Hit:
    return Hit(
        path=row.path,
        score=score,
        caption=row.caption,
        similarity=similarity,
        keyword=keyword,
        captioner=row.captioner,
        model=row.model_id,
        human=row.human,
        tags=row.tags,
        objects=row.objects,
        ocr_text=row.ocr_text,
        width=row.width,
        height=row.height,
        taken_at=row.taken_at,
    )
