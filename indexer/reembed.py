"""Move an index to another embedder from its stored captions: no image is
read and no captioner runs.

Each stored caption is embedded from the same text the indexer would have
embedded for it (``embedding_text`` over the stored caption, OCR text,
description, tags and objects), as a document. The store keeps the new
vectors beside the old ones until all are there, then switches in one
transaction (see ``store._reembed``): an interrupted run resumes, and search
answers from the old vectors until the switch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from picscribe.store import CaptionToEmbed, Store, TextEmbedder

from .captioning import CaptionResult, ObjectCount, Tag
from .pipeline import embedding_text

#: Captions embedded and committed together: a kill loses at most this many.
REEMBED_BATCH = 256
#: Rounds of "embed what is missing, then switch" before giving up on a
#: library an indexer keeps adding to meanwhile.
_MAX_ROUNDS = 5


@dataclass
class ReembedReport:
    embedder: str
    previous: str | None
    embedded: int = 0
    switched: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "embedder": self.embedder,
            "previous": self.previous,
            "embedded": self.embedded,
            "switched": self.switched,
            "seconds": round(self.seconds, 3),
        }


def text_to_embed(caption: CaptionToEmbed) -> str:
    """What the indexer embedded for this stored caption."""
    return embedding_text(
        CaptionResult(
            text=caption.text,
            ocr_text=caption.ocr_text,
            human=caption.human,
            detailed=caption.detailed,
            tags=tuple(Tag(label, score) for label, score in caption.tags),
            objects=tuple(ObjectCount(label, count, score) for label, count, score in caption.objects),
        )
    )


def reembed(
    store: Store,
    embedder: TextEmbedder,
    *,
    batch_size: int = REEMBED_BATCH,
    on_progress: Callable[[int], None] | None = None,
) -> ReembedReport:
    """Give every caption a vector from ``embedder`` and bind the index to it.

    ``on_progress(embedded so far)`` after each committed batch. A store
    already bound to ``embedder`` (or not bound yet) is just bound to it.
    """
    started = time.perf_counter()
    report = ReembedReport(embedder.name, store.embedder_name)
    for _ in range(_MAX_ROUNDS):
        while todo := store.captions_to_reembed(embedder.name, batch_size):
            texts = [text_to_embed(c) for c in todo]
            # A photo's caption and description rows share one text (the description): embed it once.
            unique = list(dict.fromkeys(texts))
            by_text = dict(zip(unique, embedder.embed(unique), strict=True))
            vectors = np.stack([by_text[t] for t in texts])
            store.write_reembedded(embedder.name, [c.caption_id for c in todo], vectors)
            report.embedded += len(todo)
            if on_progress is not None:
                on_progress(report.embedded)
        if store.switch_embedder(embedder.name, embedder.dim):
            report.switched = True
            break
    store.flush()
    report.seconds = time.perf_counter() - started
    return report
