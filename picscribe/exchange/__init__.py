"""Export an index's rows to Parquet, JSONL or CSV, and import them into any index;
or write them as kohya-style caption files (``IMAGE.txt``) for training sets.

A cluster job (or another machine) writes rows in these formats; ``import``
merges them keyed by content hash through the store's write path. The
columns are defined once, in ``_schema``.
"""

from ._caption_files import CaptionFilesReport, export_caption_files
from ._export import ExportError, ExportReport, export_store
from ._formats import FORMATS, IMPORT_SUFFIXES, ROW_FORMATS
from ._import import EmbedderMismatch, ImportReport, import_files
from ._schema import COLUMNS, PYARROW_HINT, REQUIRED, VECTOR_COLUMN, arrow_schema

__all__ = [
    "COLUMNS",
    "FORMATS",
    "IMPORT_SUFFIXES",
    "PYARROW_HINT",
    "REQUIRED",
    "ROW_FORMATS",
    "VECTOR_COLUMN",
    "CaptionFilesReport",
    "EmbedderMismatch",
    "ExportError",
    "ExportReport",
    "ImportReport",
    "arrow_schema",
    "export_caption_files",
    "export_store",
    "import_files",
]
