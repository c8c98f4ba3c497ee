"""picscribe: make a photo collection searchable by description.

    from picscribe import Library
    lib = Library.open(home)
    lib.index([folder]); hits = lib.search("pizza on a plate")

This package is the composition root: configuration, the ``Library``
façade and the ``picscribe`` command. It wires ``indexer``, ``search`` and
``store`` together; they import nothing from it.

The public names load on first use, so ``import picscribe`` (and the CLI's
``--help``) costs no database, FAISS or model import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

# The public surface is library.__all__ plus the version; test_public_api checks the two lists agree.
__all__ = [
    "KNOWN_TASKS",
    "TASK_ALT_TEXT",
    "TASK_CAPTION",
    "TASK_DETAILED",
    "TASK_OCR",
    "Answer",
    "Asker",
    "BaseCaptioner",
    "CaptionFilesReport",
    "CaptionResult",
    "Captioner",
    "CaptionerOptions",
    "CaptionerStopped",
    "CaptionerUnavailable",
    "Choice",
    "Config",
    "ConfigError",
    "DecodeError",
    "DuplicateGroup",
    "EmbedderMismatch",
    "ExportError",
    "ExportReport",
    "FakeCaptioner",
    "FillReport",
    "Hit",
    "ImportReport",
    "IndexReport",
    "Indexer",
    "Library",
    "LibraryFile",
    "ObjectCount",
    "PartialBatch",
    "Progress",
    "RayEngineError",
    "RayOptions",
    "ReembedReport",
    "Retriever",
    "SearchFilters",
    "Store",
    "StoreError",
    "StoreStatus",
    "Tag",
    "Usage",
    "WriteMetadataReport",
    "__version__",
]

if TYPE_CHECKING:
    from .library import (
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
        CaptionFilesReport,
        CaptionResult,
        Choice,
        Config,
        ConfigError,
        DecodeError,
        DuplicateGroup,
        EmbedderMismatch,
        ExportError,
        ExportReport,
        FakeCaptioner,
        FillReport,
        Hit,
        ImportReport,
        Indexer,
        IndexReport,
        Library,
        LibraryFile,
        ObjectCount,
        PartialBatch,
        Progress,
        RayEngineError,
        RayOptions,
        ReembedReport,
        Retriever,
        SearchFilters,
        Store,
        StoreError,
        StoreStatus,
        Tag,
        Usage,
        WriteMetadataReport,
    )


def __getattr__(name: str) -> object:
    if name in __all__:
        from . import library

        value = getattr(library, name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'picscribe' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
