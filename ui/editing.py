"""Save a caption a person typed in the UI."""

from __future__ import annotations

from picscribe.indexer import CaptionResult, embedding_text
from picscribe.store import Store, TextEmbedder


def save_human_caption(store: Store, embedder: TextEmbedder, path: str, text: str, ocr_text: str = "") -> int:
    """Embed ``text`` the way the indexer embeds captions (with the image's
    OCR text), store it as human-written and make it the searched caption."""
    vector = embedder.embed([embedding_text(CaptionResult(text=text.strip(), ocr_text=ocr_text))])[0]
    return store.set_human_caption(path, text, vector)
