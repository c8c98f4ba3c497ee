"""Indexing: scan folders, decode, caption, embed, and write to the store."""

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
