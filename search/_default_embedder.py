"""The default embedder's name and the error for an embedder that cannot load,
in a module of their own: ``config`` and the CLI's error handling name them, and
that must not import numpy or the embedding code."""

from __future__ import annotations

DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"


class EmbedderUnavailable(RuntimeError):
    pass
