"""Indexing: scan folders, decode, caption, embed, and write to the store.

The public names load on first use (PEP 562): a command that needs one
module of the indexer (a constant, the watcher's state file) does not import
the pipeline, the store or Pillow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picscribe._lazy_exports import lazy_exports

#: Each public name and the module that defines it.
_EXPORTS = {
    "FakeCaptioner": ".captioners.fake",
    "KNOWN_TASKS": ".captioning",
    "TASK_ALT_TEXT": ".captioning",
    "TASK_CAPTION": ".captioning",
    "TASK_DETAILED": ".captioning",
    "TASK_OCR": ".captioning",
    "Answer": ".captioning",
    "Asker": ".captioning",
    "BaseCaptioner": ".captioning",
    "Captioner": ".captioning",
    "CaptionerOptions": ".captioning",
    "CaptionerStopped": ".captioning",
    "CaptionerUnavailable": ".captioning",
    "CaptionResult": ".captioning",
    "PartialBatch": ".captioning",
    "Tag": ".captioning",
    "Usage": ".captioning",
    "answers_questions": ".captioning",
    "Indexer": ".pipeline",
    "IndexOptions": ".pipeline",
    "IndexReport": ".pipeline",
    "embedding_text": ".pipeline",
    "NoProgress": ".progress",
    "Progress": ".progress",
    "Choice": ".registry",
    "UnknownCaptioner": ".registry",
    "choose": ".registry",
    "create": ".registry",
}

if TYPE_CHECKING:
    from .captioners.fake import FakeCaptioner
    from .captioning import (
        KNOWN_TASKS,
        TASK_ALT_TEXT,
        TASK_CAPTION,
        TASK_DETAILED,
        TASK_OCR,
        Answer,
        Asker,
        BaseCaptioner,
        Captioner,
        CaptionerOptions,
        CaptionerStopped,
        CaptionerUnavailable,
        CaptionResult,
        PartialBatch,
        Tag,
        Usage,
        answers_questions,
    )
    from .pipeline import Indexer, IndexOptions, IndexReport, embedding_text
    from .progress import NoProgress, Progress
    from .registry import Choice, UnknownCaptioner, choose, create

__all__ = [
    "KNOWN_TASKS",
    "TASK_ALT_TEXT",
    "TASK_CAPTION",
    "TASK_DETAILED",
    "TASK_OCR",
    "Answer",
    "Asker",
    "BaseCaptioner",
    "CaptionResult",
    "Captioner",
    "CaptionerOptions",
    "CaptionerStopped",
    "CaptionerUnavailable",
    "Choice",
    "FakeCaptioner",
    "IndexOptions",
    "IndexReport",
    "Indexer",
    "NoProgress",
    "PartialBatch",
    "Progress",
    "Tag",
    "Usage",
    "UnknownCaptioner",
    "answers_questions",
    "choose",
    "create",
    "embedding_text",
]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS, __all__)
