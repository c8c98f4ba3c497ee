"""Queries and documents, embedded each with its own prompt.

Some embedding models are trained asymmetrically: e5 expects ``query: ``
before a search and ``passage: `` before what is searched, and scores
worse without them. sentence-transformers carries such prompts by name
(``prompts`` / ``prompt_name``); a model may ship them in its
``config_sentence_transformers.json``, and the e5 family, which does not,
gets them here by name.

``TextEmbedder.embed`` always embeds documents (captions); a backend that
embeds queries differently also has ``embed_queries``, and everything that
embeds a search goes through ``embed_queries`` below.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from picscribe.store import TextEmbedder

QUERY = "query"
#: The names sentence-transformers looks for, in order, for the document side.
DOCUMENT_NAMES = ("document", "passage", "corpus")
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}
#: intfloat/e5-*, intfloat/multilingual-e5-* and local copies named alike; not
#: the instruction-tuned ones, whose query prompt is an instruction.
_E5_NAME = re.compile(r"^(multilingual-)?e5-(?!.*instruct)", re.IGNORECASE)


@runtime_checkable
class QueryAwareEmbedder(Protocol):
    """An embedder whose queries are embedded differently from its documents."""

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Like ``embed``, for search queries."""
        ...


def embed_queries(embedder: TextEmbedder, texts: list[str]) -> np.ndarray:
    """Query vectors from ``embedder``: its query side when it has one."""
    if isinstance(embedder, QueryAwareEmbedder):
        return embedder.embed_queries(texts)
    return embedder.embed(texts)


def is_e5(name: str) -> bool:
    """An e5-family model, by hub id or by the name of its local folder."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    return bool(_E5_NAME.match(base))


def prompts_for(name: str, folder: Path | None = None) -> dict[str, str]:
    """The model's prompts: those in its folder's sentence-transformers
    config, else e5's by name, else none."""
    if folder is not None:
        try:
            config = json.loads((folder / "config_sentence_transformers.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            config = {}
        shipped = config.get("prompts") if isinstance(config, dict) else None
        if isinstance(shipped, dict) and any(isinstance(v, str) and v for v in shipped.values()):
            return {str(k): str(v) for k, v in shipped.items() if isinstance(v, str)}
    return dict(E5_PROMPTS) if is_e5(name) else {}


def query_prompt_name(prompts: dict[str, str]) -> str | None:
    return QUERY if prompts.get(QUERY) else None


def document_prompt_name(prompts: dict[str, str]) -> str | None:
    return next((n for n in DOCUMENT_NAMES if prompts.get(n)), None)
