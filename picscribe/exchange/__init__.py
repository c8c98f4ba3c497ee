"""Export an index's rows to Parquet, JSONL, CSV or text, and import them into any index.

A cluster job (or another machine) writes rows in these formats; ``import``
merges them keyed by content hash through the store's write path. The
columns are defined once, in ``_schema``.
"""

from ._export import ExportError, ExportReport, export_store
from ._formats import FORMATS, IMPORT_SUFFIXES
from ._import import EmbedderMismatch, ImportReport, import_files
from ._schema import COLUMNS, PYARROW_HINT, REQUIRED, VECTOR_COLUMN, arrow_schema

__all__ = [
    "COLUMNS",
    "FORMATS",
    "IMPORT_SUFFIXES",
    "PYARROW_HINT",
    "REQUIRED",
    "VECTOR_COLUMN",
    "EmbedderMismatch",
    "ExportError",
    "ExportReport",
    "ImportReport",
    "arrow_schema",
    "export_store",
    "import_files",
]
