"""picscribe's index: SQLite (the source of truth) and the FAISS cache derived from it.

This package imports nothing from the rest of picscribe.

The public names load on first use (PEP 562), so a command that needs one
module of the store (``status``'s quick read, a constant) does not pay for
SQLAlchemy, numpy and FAISS at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picscribe._lazy_exports import lazy_exports

#: Each public name and the private module that defines it.
_EXPORTS = {
    "DB_NAME": "_sqlite_files",
    "StoreError": "_errors",
    "StoreFull": "_errors",
    "SCHEMA_VERSION": "_migrations",
    "SchemaTooNew": "_migrations",
    "SAME_PICTURE_MAX_BITS": "_near_pairs",
    "as_codes": "_near_pairs",
    "components": "_near_pairs",
    "near_pairs": "_near_pairs",
    "LibraryFile": "_pictures",
    "CaptionRecord": "_records",
    "ExportRow": "_records",
    "FailureRecord": "_records",
    "FileState": "_records",
    "HitRow": "_records",
    "ImageDetail": "_records",
    "ImageRecord": "_records",
    "PhotoDetails": "_records",
    "Place": "_records",
    "SearchFilters": "_records",
    "StoredCaption": "_records",
    "StoreStatus": "_records",
    "TextEmbedder": "_records",
    "CaptionToEmbed": "_reembed",
    "SearchSource": "_search_source",
    "SearchView": "_search_view",
    "Store": "_store",
    "process_umask": "_umask",
    "VECTORS_NAME": "_vector_file",
    "CorruptIndexFile": "_vector_index",
    "VectorIndex": "_vector_index",
}

if TYPE_CHECKING:
    from ._errors import StoreError, StoreFull
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
        PhotoDetails,
        Place,
        SearchFilters,
        StoredCaption,
        StoreStatus,
        TextEmbedder,
    )
    from ._reembed import CaptionToEmbed
    from ._search_source import SearchSource
    from ._search_view import SearchView
    from ._sqlite_files import DB_NAME
    from ._store import Store
    from ._umask import process_umask
    from ._vector_file import VECTORS_NAME
    from ._vector_index import CorruptIndexFile, VectorIndex

__all__ = [
    "DB_NAME",
    "SCHEMA_VERSION",
    "SAME_PICTURE_MAX_BITS",
    "VECTORS_NAME",
    "CaptionRecord",
    "CaptionToEmbed",
    "CorruptIndexFile",
    "ExportRow",
    "FailureRecord",
    "FileState",
    "HitRow",
    "ImageDetail",
    "ImageRecord",
    "LibraryFile",
    "PhotoDetails",
    "Place",
    "SchemaTooNew",
    "SearchFilters",
    "SearchSource",
    "SearchView",
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


__getattr__, __dir__ = lazy_exports(
    __name__, globals(), {name: f".{module}" for name, module in _EXPORTS.items()}, __all__
)
