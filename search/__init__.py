"""Text search over the index: dense + BM25 fusion with filters.

The public names load on first use (PEP 562): importing one module of this
package (a constant, the query words) does not import the embedder, numpy or
the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picscribe._lazy_exports import lazy_exports

#: Each public name and the module that defines it.
_EXPORTS = {
    "SearchFilters": "picscribe.store",
    "DEFAULT_EMBEDDER": "._default_embedder",
    "EmbedderUnavailable": "._default_embedder",
    "SentenceEmbedder": ".embedder",
    "SentenceTransformerEmbedder": ".embedder",
    "embedder_named": ".embedders",
    "multilingual_available": ".embedders",
    "embed_queries": ".prompts",
    "DEFAULT_WEIGHTS": ".fusion",
    "FusionWeights": ".fusion",
    "fuse": ".fusion",
    "Matched": ".explain",
    "Hit": ".retriever",
    "Retriever": ".retriever",
}

if TYPE_CHECKING:
    from picscribe.store import SearchFilters

    from ._default_embedder import DEFAULT_EMBEDDER, EmbedderUnavailable
    from .embedder import SentenceEmbedder, SentenceTransformerEmbedder
    from .embedders import embedder_named, multilingual_available
    from .explain import Matched
    from .fusion import DEFAULT_WEIGHTS, FusionWeights, fuse
    from .prompts import embed_queries
    from .retriever import Hit, Retriever

__all__ = [
    "DEFAULT_EMBEDDER",
    "DEFAULT_WEIGHTS",
    "EmbedderUnavailable",
    "FusionWeights",
    "Hit",
    "Matched",
    "SentenceEmbedder",
    "Retriever",
    "SearchFilters",
    "SentenceTransformerEmbedder",
    "embed_queries",
    "embedder_named",
    "fuse",
    "multilingual_available",
]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS, __all__)
