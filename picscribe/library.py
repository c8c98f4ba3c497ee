"""``Library``: picscribe from Python, and the one place every front end builds from.

Settings resolve exactly as for the CLI (defaults, ``config.toml``, the
environment, then keyword overrides). Everything heavy loads on first use:
a Library opened to read ``status()`` loads no model.

Besides ``Library`` this module names the types its methods take and give,
so ``picscribe`` exports them from one list (``__all__`` below).
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields, replace
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, TypeAlias

from picscribe.indexer import (
    KNOWN_TASKS,
    TASK_ALT_TEXT,
    TASK_CAPTION,
    TASK_DETAILED,
    TASK_OCR,
    Asker,
    BaseCaptioner,
    Captioner,
    CaptionerOptions,
    CaptionerStopped,
    CaptionerUnavailable,
    CaptionResult,
    PartialBatch,
    Progress,
    Tag,
    Usage,
    answers_questions,
)
from picscribe.indexer.captioning import Answer, ObjectCount
from picscribe.indexer.ray_engine import RayEngineError, RayOptions
from picscribe.indexer.registry import Choice
from picscribe.search import Hit, Retriever
from picscribe.store import SearchFilters, StoreError, StoreStatus

from . import app
from .config import Config, ConfigError, load_config
from .duplicates import TIERS, DuplicateGroup, find_duplicates
from .metadata_fields import METADATA_FIELDS

# What indexing, decoding, export and import need loads when they are used:
# `picscribe search` and `status` build a Library and should not wait for
# the pipeline, Pillow or the exchange formats (test_lazy_imports).
_LAZY = {
    "FakeCaptioner": "picscribe.indexer",
    "Indexer": "picscribe.indexer",
    "IndexReport": "picscribe.indexer",
    "DecodeError": "picscribe.indexer.decode",
    "FillReport": "picscribe.indexer.picture_hash_fill",
    "CaptionFilesReport": "picscribe.exchange",
    "EmbedderMismatch": "picscribe.exchange",
    "ExportError": "picscribe.exchange",
    "ExportReport": "picscribe.exchange",
    "ImportReport": "picscribe.exchange",
    "WriteMetadataReport": "picscribe.metadata",
    "ReembedReport": "picscribe.indexer.reembed",
    # The store itself (SQLAlchemy): a cold search reads through a SearchView instead.
    "LibraryFile": "picscribe.store",
    "Store": "picscribe.store",
}

if TYPE_CHECKING:
    from PIL import Image

    from picscribe.indexer import FakeCaptioner, Indexer, IndexReport
    from picscribe.indexer.decode import DecodeError
    from picscribe.indexer.picture_hash_fill import FillReport
    from picscribe.indexer.reembed import ReembedReport
    from picscribe.store import LibraryFile, SearchSource, SearchView, Store

    from .exchange import CaptionFilesReport, EmbedderMismatch, ExportError, ExportReport, ImportReport
    from .metadata import WriteMetadataReport

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
]

_SETTINGS = frozenset(f.name for f in fields(Config)) - {"home"}

_ImageInput: TypeAlias = "str | os.PathLike[str] | Image.Image"


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


class Library:
    """An index of photos, with the captioner and embedder its settings name.

    >>> lib = Library.open("~/picscribe")          # doctest: +SKIP
    >>> lib.index(["~/Pictures"]); lib.search("pizza on a plate")  # doctest: +SKIP
    """

    def __init__(self, config: Config, *, read_only: bool = False) -> None:
        """``read_only``: only read an existing index (``status``, ``search``);
        never create one, never write to it."""
        self.config = config
        self.read_only = read_only
        self._store: Store | None = None
        #: A read-only Library's search view: search without the Store (see ``_search_source``).
        self._view: SearchView | None = None
        self._retriever: Retriever | None = None
        # One captioner per spec: a VLM or an API client is built once and reused.
        self._choices: dict[str, Choice] = {}
        # Shared by UI sessions (one Library per server): build each thing once.
        self._lock = threading.RLock()

    @classmethod
    def open(
        cls, home: str | os.PathLike[str] | None = None, *, read_only: bool = False, **settings: object
    ) -> Library:
        """Settings as ``picscribe --home HOME`` resolves them, with ``settings``
        (any config.toml name: ``captioner="fake"``, ``batch_size=32``) on top;
        a value of None keeps the configured one. ``read_only``: see ``__init__``."""
        unknown = set(settings) - _SETTINGS
        if unknown:
            raise TypeError(f"unknown settings {sorted(unknown)}; known: {sorted(_SETTINGS)}")
        return cls(load_config(Path(home) if home is not None else None, **settings), read_only=read_only)

    # -- what it is built from ---------------------------------------------

    @property
    def home(self) -> Path:
        return self.config.home

    @property
    def store(self) -> Store:
        """The index, made on first use if there is none yet."""
        return self.open_index()

    def open_index(self, *, create: bool = True) -> Store:
        """The index, opened once and kept; without ``create``, StoreError when there is none."""
        with self._lock:
            if self._store is None:
                if self.read_only:
                    self._store = app.open_store(self.config, create=False, read_only=True)
                else:
                    self._store = app.open_store(self.config, create=create)
            return self._store

    def exists(self) -> bool:
        """Whether an index has been made in ``home`` (nothing is opened or created)."""
        return self._store is not None or app.index_exists(self.config)

    @property
    def retriever(self) -> Retriever:
        with self._lock:
            if self._retriever is None:
                self._retriever = app.retriever_for(self.config, self._search_source())
            return self._retriever

    def _search_source(self) -> SearchSource:
        """What search reads from. A read-only Library (``picscribe search``) opens a
        SearchView, the same SQL without SQLAlchemy, where it can serve the index exactly
        as the Store would; else, and once the Store is open, the Store. Searching makes
        no index: a wrong home says so instead of answering "nothing found"."""
        with self._lock:
            if self.read_only and self._store is None:
                if self._view is None:
                    self._view = app.open_search_view(self.config)
                if self._view is not None:
                    return self._view
            return self.open_index(create=False)

    def captioner(self, spec: str | None = None) -> Captioner:
        """The backend ``spec`` names (default: the configured ``captioner``),
        built with every configured option (trust_remote_code, API concurrency,
        timeout, budgets) and kept for the next call."""
        return self.choose_captioner(spec).captioner

    def choose_captioner(self, spec: str | None = None) -> Choice:
        """As ``captioner``, with the reason it was chosen (what the CLI prints)."""
        spec = spec or self.config.captioner
        with self._lock:
            if spec not in self._choices:
                self._choices[spec] = app.choose_captioner(replace(self.config, captioner=spec))
            return self._choices[spec]

    def indexer(
        self, captioner: str | Captioner | None = None, *, retry_failed: bool = False, ray: RayOptions | None = None
    ) -> Indexer:
        """An indexer with the configured batch size, workers and pixel limits; with ``ray``,
        one whose read, decode, caption and embed stages run on that Ray cluster."""
        backend = self.choose_captioner(captioner) if captioner is None or isinstance(captioner, str) else captioner
        return app.indexer_for(self.config, self.store, backend, retry_failed=retry_failed, ray=ray)

    # -- indexing -----------------------------------------------------------

    def index(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: Progress | None = None,
        *,
        captioner: str | Captioner | None = None,
        retry_failed: bool = False,
        ray: RayOptions | None = None,
    ) -> IndexReport:
        """Bring the index in line with folders or files ``paths``: caption what
        is new or changed, forget what is gone. The folders join the library's roots.
        ``ray``: caption on a Ray cluster (``picscribe index --engine ray``)."""
        roots = [Path(p).expanduser().absolute() for p in paths]
        return self.indexer(captioner, retry_failed=retry_failed, ray=ray).index(roots, progress=progress)

    def update(self, paths: Iterable[str | os.PathLike[str]], progress: Progress | None = None) -> IndexReport:
        """Index just these files (a watcher's batch): new, changed or deleted."""
        report = self.indexer().update([os.path.abspath(os.path.expanduser(p)) for p in paths], progress=progress)
        self.store.flush()  # update() leaves the FAISS cache to its caller, for a watcher's many small steps
        return report

    def reindex(self, captioner: str | Captioner | None = None, progress: Progress | None = None) -> IndexReport:
        """Caption every indexed photo with ``captioner``; search switches over once all have one."""
        return self.indexer(captioner).reindex(progress=progress)

    def reembed(self, embedder: str | None = None, on_progress: Callable[[int], None] | None = None) -> ReembedReport:
        """Embed every stored caption with ``embedder`` (default: the configured
        ``embedder``) and bind the index to it; nothing is re-captioned and no
        photo is read. Search uses the old vectors until all new ones are
        stored; an interrupted run resumes. ``on_progress(captions embedded)``."""
        from picscribe.indexer.reembed import reembed

        name = embedder or self.config.embedder
        store = self.open_index(create=False)
        report = reembed(store, app.embedder_for(replace(self.config, embedder=name)), on_progress=on_progress)
        with self._lock:
            self._retriever = None  # it embeds queries with the old model
        return report

    # -- searching ----------------------------------------------------------

    def search(
        self, query: str, limit: int = 10, filters: SearchFilters | None = None, *, collapse: bool = True
    ) -> list[Hit]:
        """The ``limit`` best photos for ``query``. Copies of one picture (the same
        bytes, or resized, re-encoded, converted) make one hit listing the others
        in ``Hit.copies``; ``collapse=False`` gives every file its own hit."""
        return self.retriever.search(query, limit, filters or SearchFilters(), collapse=collapse)

    def similar(
        self,
        path: str | os.PathLike[str],
        limit: int = 10,
        filters: SearchFilters | None = None,
        *,
        collapse: bool = True,
    ) -> list[Hit]:
        """Photos whose caption is closest to ``path``'s (which must be indexed)."""
        where = os.path.abspath(os.path.expanduser(path))
        return self.retriever.similar(where, limit, filters or SearchFilters(), collapse=collapse)

    # -- duplicates ---------------------------------------------------------

    def duplicates(
        self, tiers: Sequence[str] = TIERS, folder: str | os.PathLike[str] | None = None
    ) -> list[DuplicateGroup]:
        """Groups of copies: ``exact`` (same bytes), ``same`` (same picture: resized,
        re-encoded, converted, lightly cropped), ``similar`` (a burst: shots seconds
        apart with alike captions), each with the file to keep and why. Lists only:
        nothing is deleted or moved. Content indexed before picture hashes existed is
        in the ``same`` tier only after ``fill_picture_hashes``."""
        where = None if folder is None else os.path.abspath(os.path.expanduser(folder))
        return find_duplicates(self.open_index(create=False), tiers, where)

    def fill_picture_hashes(self, on_progress: Callable[[int, int], None] | None = None) -> FillReport:
        """Decode, once, each content indexed before picture hashes existed and store
        its perceptual hash. Resumable: finished batches stay; ``on_progress(done, total)``."""
        from picscribe.indexer.picture_hash_fill import fill_picture_hashes

        cfg = self.config
        return fill_picture_hashes(
            self.open_index(create=False),
            workers=cfg.workers,
            max_pixels=cfg.max_pixels,
            max_side=cfg.max_side,
            on_progress=on_progress,
        )

    def status(self) -> StoreStatus:
        """Counts, models and failures. Raises StoreError when there is no index yet."""
        return self.open_index(create=False).status()

    def object_labels(self) -> list[tuple[str, int]]:
        """(label, how many photos' contents) for the objects the captioner detected, most common first:
        the values search's ``objects`` filter takes."""
        with self._lock:
            # Search's view when one is open (`picscribe search --object`), so search stays off SQLAlchemy.
            source: SearchSource = self._view or self.open_index(create=False)
        return source.object_labels()

    # -- export and import ------------------------------------------------------

    def export(
        self, out: str | os.PathLike[str] | IO[str], format: str = "jsonl", *, vectors: bool = False
    ) -> ExportReport:
        """Write one row per indexed image (path, sha256, caption and who made it, tags,
        objects, OCR text, the file's size and mtime; with ``vectors``, the vector)
        to the file ``out`` or a text stream. ``format``: parquet, jsonl or csv
        (txt is ``export_caption_files``)."""
        from .exchange import export_store

        target = Path(out) if isinstance(out, str | os.PathLike) else out
        return export_store(self.open_index(create=False), target, format, vectors=vectors)

    def export_caption_files(
        self, out_dir: str | os.PathLike[str] | None = None, *, overwrite: bool = False, tags: bool = False
    ) -> CaptionFilesReport:
        """Write kohya-style caption files (``photo.jpg`` -> ``photo.txt``, the searched
        caption on one line; with ``tags``, its tags after it) beside the images, or
        under ``out_dir`` mirroring the folders below the library's roots. An existing
        file is skipped unless ``overwrite``; a file that cannot be written is reported
        in the result and the others go on."""
        from .exchange import export_caption_files

        target = Path(out_dir) if out_dir is not None else None
        return export_caption_files(self.open_index(create=False), target, overwrite=overwrite, tags=tags)

    def import_(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        path_map: Iterable[tuple[str, str]] = (),
    ) -> ImportReport:
        """Merge exported rows (files, or folders of them) into the index, keyed by content hash.

        Idempotent; human text is never overwritten; a vector from another
        embedder than the index's raises EmbedderMismatch before anything is
        written. A fresh index is bound to the configured embedder. ``path_map``:
        (old, new) folders; rows under old are imported under new."""
        if isinstance(paths, str | os.PathLike):
            paths = [paths]  # one file, not its characters
        from .exchange import import_files

        store = self.store
        return import_files(store, app.embedder_for(self.config, store), paths, path_map=list(path_map))

    def write_metadata(
        self,
        paths: Iterable[str | os.PathLike[str]] = (),
        fields: Sequence[str] = METADATA_FIELDS,
        *,
        dry_run: bool = False,
        on_file: Callable[[str], None] | None = None,
        to: str = "sidecar",
    ) -> WriteMetadataReport:
        """Write each indexed image's caption, detailed description, alt text and
        tags to its XMP sidecar (``photo.jpg.xmp``, or an existing ``photo.xmp``),
        merged with what the sidecar holds; text picscribe did not write is never
        replaced. ``paths``: only images under these (default: all).

        ``to="file"`` writes into the image files through exiftool instead
        (pixels untouched, checked), and keeps their captions in the index
        although their bytes change."""
        from .metadata import write_metadata

        store = self.open_index(create=False)
        return write_metadata(store, paths, fields, dry_run=dry_run, on_file=on_file, to=to)

    # -- one image, outside the index -----------------------------------------

    def caption(self, image: _ImageInput, task: str = TASK_CAPTION, *, captioner: str | None = None) -> CaptionResult:
        backend = self.captioner(captioner)
        if task not in backend.tasks:
            raise ValueError(f"captioner {backend.name} cannot do {task!r}; it does {sorted(backend.tasks)}")
        (result,) = backend.caption([self._decoded(image)], task)
        return result

    def ask(self, image: _ImageInput, question: str, *, captioner: str | None = None) -> Answer:
        """Answer ``question`` about ``image`` (needs a VLM or the offline captioner)."""
        backend = self.captioner(captioner)
        if not answers_questions(backend):
            raise ValueError(
                f"captioner {backend.name} ({backend.model_id}) cannot answer questions; "
                "use a chat VLM or the offline captioner"
            )
        (answer,) = backend.ask([self._decoded(image)], [question])
        return answer

    def _decoded(self, image: _ImageInput) -> Image.Image:
        """A path decoded as indexing decodes it (orientation, pixel limits); an image as RGB."""
        from PIL import Image

        from picscribe.indexer.decode import load
        from picscribe.indexer.scan import FileEntry

        if isinstance(image, Image.Image):
            return image if image.mode == "RGB" else image.convert("RGB")
        path = os.path.abspath(os.path.expanduser(image))
        cfg = self.config
        loaded = load(FileEntry(path, 0, 0), frozenset(), max_pixels=cfg.max_pixels, max_side=cfg.max_side)
        assert loaded.image is not None  # no known hashes: every image is decoded
        return loaded.image

    # -- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Release the captioners' resources (an API client's connections) and the index."""
        with self._lock:
            closed: set[int] = set()
            for choice in self._choices.values():
                backend = choice.captioner
                if id(backend) not in closed:
                    closed.add(id(backend))
                    backend.close()
            self._choices.clear()
            self._retriever = None
            if self._view is not None:
                self._view.close()
                self._view = None
            if self._store is not None:
                self._store.close()
                self._store = None

    def __enter__(self) -> Library:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Library({str(self.home)!r})"
