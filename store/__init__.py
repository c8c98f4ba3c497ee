"""picscribe's index: SQLite (the source of truth) and the FAISS cache derived from it.

This package imports nothing from the rest of picscribe.
"""

from ._db import DB_NAME, StoreError, StoreFull
from ._migrations import SCHEMA_VERSION, SchemaTooNew
from ._near_pairs import SAME_PICTURE_MAX_BITS, as_codes, components, near_pairs
from ._pictures import LibraryFile
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
    "SAME_PICTURE_MAX_BITS",
    "VECTORS_NAME",
    "CaptionRecord",
    "CorruptIndexFile",
    "ExportRow",
    "FailureRecord",
    "FileState",
    "HitRow",
    "ImageDetail",
    "ImageRecord",
    "LibraryFile",
    "SchemaTooNew",
    "SearchFilters",
    "Store",
    "StoreError",
    "StoreFull",
    "StoreStatus",
    "StoredCaption",
    "TextEmbedder",
    "VectorIndex",
    "as_codes",
    "components",
    "near_pairs",
    "process_umask",
]
