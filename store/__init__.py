"""picscribe's index: SQLite (the source of truth) and the FAISS cache derived from it.

This package imports nothing from the rest of picscribe.
"""

from ._db import DB_NAME, StoreError, StoreFull
from ._migrations import SCHEMA_VERSION, SchemaTooNew
from ._records import (
    CaptionRecord,
    ExportRow,
    FailureRecord,
    FileState,
    HitRow,
    ImageDetail,
    ImageRecord,
    SearchFilters,
    StoredCaption,
    StoreStatus,
    TextEmbedder,
)
from ._store import Store
from ._umask import process_umask
from ._vector_cache import VECTORS_NAME
from ._vector_index import CorruptIndexFile, VectorIndex

__all__ = [
    "DB_NAME",
    "SCHEMA_VERSION",
    "VECTORS_NAME",
    "CaptionRecord",
    "CorruptIndexFile",
    "ExportRow",
    "FailureRecord",
    "FileState",
    "HitRow",
    "ImageDetail",
    "ImageRecord",
    "SchemaTooNew",
    "SearchFilters",
    "Store",
    "StoreError",
    "StoreFull",
    "StoreStatus",
    "StoredCaption",
    "TextEmbedder",
    "VectorIndex",
    "process_umask",
]
