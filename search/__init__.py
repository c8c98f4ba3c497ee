"""Text search over the index: dense + BM25 fusion with filters."""

from picscribe.store import SearchFilters

from .embedder import DEFAULT_EMBEDDER, EmbedderUnavailable, QueryEmbedder, SentenceTransformerEmbedder
from .fusion import DEFAULT_WEIGHTS, FusionWeights, fuse
from .retriever import Hit, Retriever

__all__ = [
    "DEFAULT_EMBEDDER",
    "DEFAULT_WEIGHTS",
    "EmbedderUnavailable",
    "FusionWeights",
    "Hit",
    "QueryEmbedder",
    "Retriever",
    "SearchFilters",
    "SentenceTransformerEmbedder",
    "fuse",
]
