"""Answer a text query: embed it, take FAISS and BM25 candidates, fuse, join metadata."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from picscribe.store import HitRow, Place, SearchFilters, TextEmbedder

from .collapse import collapse_copies
from .explain import Matched, explain
from .fusion import DEFAULT_WEIGHTS, FusionWeights, fuse, text_share
from .prompts import embed_queries
from .query import query_words, quoted_phrases
from .weak_match import weak_match_score

if TYPE_CHECKING:  # annotations only: a cold search reads through a SearchView and never imports the Store
    from picscribe.store import SearchSource, VectorIndex


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
    #: Scored below the embedder's weak-match threshold (search/weak_match.py):
    #: probably not what was asked for, only the closest there is.
    weak: bool = False
    #: Other files of the same picture (exact copies, resized or re-encoded
    #: ones), folded into this hit by search's collapsing; best-ranked first.
    copies: tuple[str, ...] = ()
    #: Where it was taken, named from its GPS (city, region, country, country_code); None without one.
    place: Place | None = None
    #: The camera, from EXIF, as people say it ("Nikon D750").
    camera: str | None = None
    #: Why it matched: the query words each field holds, and ``similarity`` (search/explain.py).
    matched: Matched = field(default_factory=Matched)

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["matched"] = self.matched.to_json()
        d["copies"] = list(self.copies)
        d["tags"] = list(self.tags)
        d["objects"] = [{"label": label, "count": count} for label, count in self.objects]
        d["score"] = round(self.score, 6)
        d["similarity"] = round(self.similarity, 6)
        d["keyword"] = round(self.keyword, 6)
        return d


#: A filtered search first takes this many times the usual vector
#: candidates unfiltered and checks the filter on them: cheap, and exactly
#: the filtered top when enough pass (a filter letting through 1 image in 16
#: or more). Narrower filters list their ids in SQL and filter inside FAISS.
POST_FILTER_FACTOR = 16

#: The default filters: none. One shared instance (SearchFilters is frozen).
NO_FILTERS = SearchFilters()


class Retriever:
    """Searches ``store``: the Store, or a cold search's SearchView (the same SQL, without SQLAlchemy)."""

    def __init__(self, store: SearchSource, embedder: TextEmbedder, weights: FusionWeights = DEFAULT_WEIGHTS) -> None:
        self.store = store
        self.embedder = embedder
        self.weights = weights
        #: Hits scored below this are marked weak; None: no calibration for this embedder.
        self.weak_below = weak_match_score(embedder.name)

    def search(
        self,
        query: str,
        limit: int = 10,
        filters: SearchFilters = NO_FILTERS,
        min_score: float | None = None,
        *,
        collapse: bool = True,
    ) -> list[Hit]:
        """The ``limit`` best hits for ``query``. ``collapse``: one hit per picture,
        carrying its copies (see ``collapse``); False lists every file."""
        if limit <= 0 or not query.strip():
            return []
        index = self.store.vector_index()
        qvec = embed_queries(self.embedder, [query])[0]
        depth = max(limit * self.weights.depth_factor, self.weights.min_depth)
        dense_list, allowed = self._dense(index, qvec, depth, filters)
        dense = dict(dense_list)

        words = query_words(query)
        found: list[int] = []
        if words:
            if allowed is not None or filters.is_empty():
                found = self.store.keyword_candidates(words, depth, allowed)
            else:
                # The filter is broad (the vector side found enough passing it
                # among its wider candidates): check it on wider keyword ones too.
                wide = self.store.keyword_candidates(words, depth * POST_FILTER_FACTOR)
                passing = self.store.filter_caption_ids(filters, wide)
                found = [cid for cid in wide if cid in passing][:depth]
                if len(found) < depth and len(wide) == depth * POST_FILTER_FACTOR:
                    # More rows match than were checked: search inside the filter.
                    found = self.store.keyword_candidates(words, depth, self.store.allowed_caption_ids(filters))
        # Score every candidate on both signals, not just the retriever that found it.
        keyword = self.store.keyword_scores(words, set(dense) | set(found)) if words else {}
        for cid in set(found) - set(dense):
            dense[cid] = float(np.dot(index.vector(cid), qvec))

        top_kw = max(keyword.values(), default=0.0)
        keyword_norm = {cid: s / top_kw for cid, s in keyword.items()} if top_kw else {}
        # Each candidate's fields, read once: they are both evidence (words in
        # the photo's text or place, quoted phrases) and the hit's explanation.
        rows = self.store.hit_rows(list(dense), filters)
        matched = {cid: explain(query, _fields(found_rows[0]), dense[cid]) for cid, found_rows in rows.items()}
        phrases = len(quoted_phrases(query))
        fused = fuse(
            dense,
            keyword,
            self.weights,
            text={cid: text_share(m, len(words), exact_tags=rows[cid][0].human) for cid, m in matched.items()},
            phrases={cid: len(m.phrases) / phrases for cid, m in matched.items()} if phrases else None,
        )
        return self._hits(
            fused, dense, keyword_norm, filters, limit, min_score, self.weak_below, collapse, rows=rows, matched=matched
        )

    def _dense(
        self, index: VectorIndex, qvec: np.ndarray, depth: int, filters: SearchFilters
    ) -> tuple[list[tuple[int, float]], np.ndarray | None]:
        """The vector top ``depth`` among the images ``filters`` lets
        through, and the allowed ids when they had to be listed (else None)."""
        if filters.is_empty():
            return index.search(qvec, depth), None
        wide = index.search(qvec, depth * POST_FILTER_FACTOR)
        passing = self.store.filter_caption_ids(filters, [cid for cid, _ in wide])
        dense = [(cid, s) for cid, s in wide if cid in passing]
        if len(dense) >= depth or len(wide) >= len(index):
            return dense[:depth], None
        allowed = self.store.allowed_caption_ids(filters)
        return index.search(qvec, depth, allowed), allowed

    def similar(
        self, path: str, limit: int = 10, filters: SearchFilters = NO_FILTERS, *, collapse: bool = True
    ) -> list[Hit]:
        """Images whose searched caption is closest to ``path``'s own, by
        its stored vector (nothing is embedded). Other copies of the same
        content are left out: they are the image itself. Empty if ``path``
        has no searched caption."""
        cid = self.store.current_caption_id_for_path(path)
        if cid is None or limit <= 0:
            return []
        index = self.store.vector_index()
        depth = max(limit * self.weights.depth_factor, self.weights.min_depth)
        found, _ = self._dense(index, index.vector(cid), depth + 1, filters)
        dense = {i: s for i, s in found if i != cid}
        # Not marked weak: the threshold is calibrated for queries, not caption-to-caption likeness.
        return self._hits(dense, dense, {}, filters, limit, None, None, collapse)

    def _hits(
        self,
        scores: dict[int, float],
        dense: dict[int, float],
        keyword: dict[int, float],
        filters: SearchFilters,
        limit: int,
        min_score: float | None,
        weak_below: float | None,
        collapse: bool = False,
        *,
        rows: dict[int, list[HitRow]] | None = None,
        matched: dict[int, Matched] | None = None,
    ) -> list[Hit]:
        """Join the best-scored caption ids with their image rows (``rows``:
        already read), best first; with ``collapse``, one hit per picture
        (see ``collapse``). ``matched``: why each matched (else: by its similarity)."""
        ranked = sorted(scores, key=lambda cid: -scores[cid])
        if rows is None:
            rows = self.store.hit_rows(ranked, filters)
        matched = matched or {}
        hits: list[Hit] = []
        contents: list[str] = []
        for cid in ranked:
            score = scores[cid]
            if min_score is not None and score < min_score:
                break
            for row in rows.get(cid, ()):
                weak = weak_below is not None and score < weak_below
                similarity = dense.get(cid, 0.0)
                why = matched.get(cid) or Matched(dense=similarity)
                hits.append(_hit(row, score, similarity, keyword.get(cid, 0.0), weak, why))
                contents.append(row.content_hash)
            # Collapsing looks at every candidate: a lower-ranked copy still joins its card.
            if len(hits) >= limit and not collapse:
                break
        if collapse:
            return collapse_copies(hits, contents, self.store.picture_hashes(set(contents)), limit)
        return hits[:limit]


def _hit(row: HitRow, score: float, similarity: float, keyword: float, weak: bool, matched: Matched) -> Hit:
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
        weak=weak,
        place=row.place,
        camera=row.camera,
        matched=matched,
    )


def _fields(row: HitRow) -> dict[str, str]:
    """A hit row's text by field, as the keyword index holds it (store: search_text)."""
    return {
        "caption": row.caption,
        "ocr": row.ocr_text,
        "tags": " ".join(row.tags),
        "objects": " ".join(label for label, _ in row.objects),
        "place": row.place.words if row.place else "",
    }
