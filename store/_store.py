"""``Store``: the index's one public face, over modules that each do one job.

SQLite is the source of truth and the FAISS index a cache derived from it.
Every write happens in one SQLite transaction that also bumps a generation
counter; the FAISS cache follows after each commit and is checked against
SQLite on open. A kill -9 at any point therefore loses nothing committed.

- ``_db``: engine, pragmas, transactions, meta values, the embedder binding;
- ``_catalog``: what the indexer looks up before it writes;
- ``_writes``: the write path, with ``_current`` (which caption search uses);
- ``_vector_cache``: the FAISS cache kept in step with SQLite;
- ``_filter_sql``: SQL for ``SearchFilters``; ``_keyword``: keyword retrieval;
- ``_search_reads``: what search reads, as SQL text over a stdlib ``sqlite3``
  connection, shared with ``_search_view`` (a cold search without SQLAlchemy);
- ``_reads``: image detail, browse and status;
- ``_export``: rows for export, and the stored captions an import compares with.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from sqlalchemy import Engine

from . import _db
from . import _search_reads as search_reads
from ._catalog import Catalog
from ._db import DB_NAME, Database, StoreError, driver, generation
from ._export import CaptionKey, Exchange
from ._keyword import search_text_index
from ._migrations import SCHEMA_VERSION, migrate
from ._photo_details import contents_without_details, details_by_hash
from ._pictures import LibraryFile, Pictures
from ._reads import Reads
from ._records import (
    NO_FILTERS,
    CaptionRecord,
    ExportRow,
    FailureRecord,
    FileState,
    HitRow,
    ImageDetail,
    ImageRecord,
    PhotoDetails,
    SearchFilters,
    StoreStatus,
)
from ._reembed import CaptionToEmbed, Reembedding
from ._sqlite_files import remove_wal_files
from ._temp_files import remove_stale_temp_files
from ._vector_cache import VectorCache
from ._vector_file import VECTORS_NAME
from ._vector_index import VectorIndex
from ._writes import Writer


class Store:
    """Open with ``Store.open(home)``; close with ``close()`` or a ``with`` block."""

    def __init__(self, home: Path, engine: Engine, *, read_only: bool = False) -> None:
        self.home = home
        #: Opened for reading only (``Store.open(read_only=True)``): SQLite is never written.
        self.read_only = read_only
        self._tidy_wal_on_close = False
        self._db = Database(home, engine, read_only=read_only)
        # One lock from each commit until the FAISS cache has followed it.
        lock = threading.RLock()
        self._vectors = VectorCache(self._db, home / VECTORS_NAME, lock)
        self._catalog = Catalog(self._db, lock)
        self._writer = Writer(self._db, self._vectors, lock)
        self._reads = Reads(self._db)
        self._exchange = Exchange(self._db)
        self._pictures = Pictures(self._db)
        self._reembedding = Reembedding(self._db, lock)
        self._keywords = search_text_index()

    # -- lifecycle ---------------------------------------------------------

    @classmethod
    def open(cls, home: Path | str, *, create: bool = True, read_only: bool = False) -> Store:
        """Open (or, with ``create``, make) the index at ``home``.

        ``read_only``: for commands that only read (status, search). No write
        transaction is taken, so they work on a read-only home and never wait
        for a writer's lock. Only an index from an older picscribe, which
        needs migrating first, is opened for writing after all.
        """
        home = Path(home).expanduser().absolute()
        db_path = home / DB_NAME
        if home.exists() and not home.is_dir():
            raise StoreError(f"{home}: is not a directory")
        if read_only and db_path.exists():
            store = cls._open_read_only(home, db_path)
            if store is not None:
                return store
        if not db_path.exists():
            if not create:
                raise StoreError(f"no index at {home}; run `picscribe index PATH` first")
            try:
                home.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{home}: cannot create index directory: {exc.strerror or exc}") from exc
        engine = _db.make_engine(db_path)
        try:
            with engine.connect().execution_options(write=True) as conn, conn.begin():
                migrate(conn)
        except Exception as exc:
            engine.dispose()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"{db_path}: cannot open index: {exc}") from exc
        remove_stale_temp_files(home / VECTORS_NAME)
        return cls(home, engine)

    @classmethod
    def _open_read_only(cls, home: Path, db_path: Path) -> Store | None:
        """The index opened read-only; None if its schema is not this version's (migrate() decides)."""
        # A read-only connection makes the -wal and -shm files of a database
        # that had none, and cannot remove them when it closes.
        tidy_wal = not any(Path(f"{db_path}{s}").exists() for s in ("-wal", "-shm"))
        engine = _db.make_engine(db_path, read_only=True)
        try:
            with engine.connect() as conn:
                version = int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())
        except Exception as exc:
            engine.dispose()
            raise StoreError(f"{db_path}: cannot open index: {exc}") from exc
        if version != SCHEMA_VERSION:
            engine.dispose()
            if tidy_wal:
                remove_wal_files(db_path)
            return None
        store = cls(home, engine, read_only=True)
        store._tidy_wal_on_close = tidy_wal
        return store

    def close(self) -> None:
        self.flush()
        self._db.engine.dispose()
        self._keywords.close()
        if self._tidy_wal_on_close:
            remove_wal_files(self.home / DB_NAME)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta and the embedder binding (_db) ---------------------------------

    def meta(self, key: str) -> str | None:
        return self._db.meta(key)

    @property
    def embedder_name(self) -> str | None:
        return self._db.meta("embedder")

    def active_captioner(self) -> tuple[str, str] | None:
        return self._db.active_captioner()

    def bind_embedder(self, name: str, dim: int) -> None:
        """Record which embedder this index uses; refuse a different one."""
        self._db.bind_embedder(name, dim)

    def check_embedder(self, name: str) -> None:
        """Raise StoreError if the index is bound to another embedder (cheap: no model load)."""
        self._db.check_embedder(name)

    # -- moving to another embedder without re-captioning (_reembed) ---------

    def captions_to_reembed(self, embedder: str, limit: int = 256) -> list[CaptionToEmbed]:
        """Up to ``limit`` captions the bound embedder has a vector for and ``embedder`` has not."""
        return self._reembedding.missing(embedder, limit)

    def write_reembedded(self, embedder: str, caption_ids: Sequence[int], vectors: np.ndarray) -> None:
        """Store ``embedder``'s vectors next to the bound one's; search still uses the bound one's."""
        self._reembedding.write(embedder, caption_ids, vectors)

    def switch_embedder(self, embedder: str, dim: int) -> bool:
        """Bind the index to ``embedder`` once it has every vector; False if some are still missing."""
        switched = self._reembedding.switch(embedder, dim)
        self._vectors.index()  # rebuild the FAISS cache now, not on the first search
        return switched

    # -- what the indexer looks up (_catalog) --------------------------------

    def file_states(self, roots: Iterable[str]) -> dict[str, FileState]:
        """Known files under any of ``roots`` (absolute directories or files)."""
        return self._catalog.file_states(roots)

    def file_states_at(self, paths: Iterable[str], folders: Iterable[str] = ()) -> dict[str, FileState]:
        """Known files at exactly ``paths`` and anywhere inside ``folders`` (by the path index)."""
        return self._catalog.file_states_at(paths, folders)

    def hashes_with_caption(self, captioner: str, model_id: str) -> set[str]:
        return self._catalog.hashes_with_caption(captioner, model_id)

    def hashes_with_current_caption(self) -> set[str]:
        return self._catalog.hashes_with_current_caption()

    def image_info_by_hash(self, hashes: Iterable[str]) -> dict[str, ImageRecord]:
        """One ok row of each known content (see Catalog.image_info_by_hash)."""
        return self._catalog.image_info_by_hash(hashes)

    def ok_paths_of(self, hashes: Iterable[str]) -> dict[str, list[str]]:
        """Every path indexed ok with each of ``hashes``."""
        return self._catalog.ok_paths_of(hashes)

    def paths_by_hash(self) -> dict[str, str]:
        """One indexed path for each distinct content, for re-captioning."""
        return self._catalog.paths_by_hash()

    def failed_paths_under(self, roots: Iterable[str]) -> list[tuple[str, str]]:
        return self._catalog.failed_paths_under(roots)

    def record_unreadable_folders(self, roots: Iterable[str], folders: Iterable[tuple[str, str]]) -> None:
        """Remember the (folder, why) that a scan of ``roots`` could not list."""
        self._catalog.record_unreadable_folders(roots, folders)

    def library_roots(self, *, derive: bool = True) -> tuple[str, ...]:
        """The folders (or files) the user indexed or watched, outermost only."""
        return self._catalog.library_roots(derive=derive)

    def add_library_roots(self, roots: Iterable[str]) -> tuple[str, ...]:
        """Record ``roots`` (made absolute) as part of the library; returns the new list."""
        return self._catalog.add_library_roots(roots)

    # -- writes (_writes) ----------------------------------------------------

    def write_batch(
        self,
        images: Sequence[ImageRecord] = (),
        captions: Sequence[CaptionRecord] = (),
        failures: Sequence[FailureRecord] = (),
        remove: Sequence[str] = (),
        carry: Sequence[tuple[str, str]] = (),
    ) -> int:
        """Record one batch in a single transaction: all of it or none of it.

        ``remove`` are paths forgotten in that same transaction; ``carry``
        (old, new) content hashes of the same pixels, whose captions the new
        content gets copies of. Returns how many rows went.
        """
        return self._writer.write_batch(images, captions, failures, remove, carry)

    def remove_paths(self, paths: Sequence[str]) -> int:
        """Forget files that are gone from disk. Returns how many rows went."""
        return self._writer.remove_paths(paths)

    def record_rewritten(self, path: str, content_hash: str, size: int, mtime_ns: int) -> bool:
        """``path`` now holds other bytes, ``content_hash``, with the same pixels:
        metadata was written into it. Its row moves to the new bytes and they
        get copies of the old content's captions, human text included, in one
        transaction, so the next index finds the file unchanged. False when
        ``path`` has no ok row (nothing to keep)."""
        state = self.file_states_at([path]).get(path)
        if state is None or state.status != "ok" or state.content_hash is None:
            return False
        twin = self.image_info_by_hash([state.content_hash]).get(state.content_hash)
        if twin is None:
            return False
        row = replace(twin, path=path, size=size, mtime_ns=mtime_ns, content_hash=content_hash)
        self._writer.write_batch(
            images=[replace(row, sidecar_sig=state.sidecar_sig)], carry=[(state.content_hash, content_hash)]
        )
        return True

    def move_paths(self, moves: Sequence[tuple[str, str]]) -> int:
        """Re-point rows from old paths (files or folders) to new ones, keeping their captions."""
        return self._writer.move_paths(moves)

    def set_active_captioner(self, captioner: str, model_id: str) -> None:
        """Make this captioner's captions the ones search uses (where present); human text still wins."""
        self._writer.set_active_captioner(captioner, model_id)

    def ensure_active_captioner(self, captioner: str, model_id: str) -> tuple[str, str]:
        """Set the active captioner if none is set yet; return the active one."""
        return self._writer.ensure_active_captioner(captioner, model_id)

    def set_human_caption(self, path: str, caption: str, vector: np.ndarray, *, source: str = "ui-edit") -> int:
        """Store ``caption`` as human-written text for the content at ``path``
        and make it the searched caption. Returns its caption id.

        ``vector`` must come from this index's embedder. Human text always wins
        over generated text, so no later index or re-index replaces it; an
        edit of an edit replaces the earlier edit. The OCR text, tags and
        detected objects of the caption it replaces are kept, so filters and
        keyword search still find the image by them.
        """
        text = caption.strip()
        if not text:
            raise StoreError("a caption cannot be empty")
        self._writer.write_batch(captions=[self._reads.human_caption_record(path, text, vector, source)])
        caption_id = self._reads.current_caption_id_for_path(path)
        assert caption_id is not None
        return caption_id

    # -- the FAISS cache (_vector_cache) -------------------------------------

    def vector_index(self) -> VectorIndex:
        """The FAISS index, checked against SQLite and rebuilt if it disagrees."""
        return self._vectors.index()

    def flush(self) -> None:
        """Write the FAISS cache to disk if it changed since it was loaded."""
        self._vectors.flush()

    # -- reads for search (_filters, _keyword, _reads) -----------------------

    def allowed_caption_ids(self, filters: SearchFilters) -> np.ndarray:
        """Every searched caption id that ``filters`` lets through, sorted."""
        with self._db.read() as conn:
            return search_reads.allowed_caption_ids(driver(conn), filters)

    def filter_caption_ids(self, filters: SearchFilters, caption_ids: Sequence[int]) -> set[int]:
        """The ids among ``caption_ids`` that ``filters`` lets through."""
        with self._db.read() as conn:
            return search_reads.filter_caption_ids(driver(conn), filters, caption_ids)

    def keyword_candidates(self, words: Sequence[str], depth: int, allowed: np.ndarray | None = None) -> list[int]:
        """Up to ``depth`` caption ids that match query ``words``, found at a
        bounded cost however large the library (see ``_keyword``); with
        ``allowed``, only those ids."""
        allowed_json = None if allowed is None else "[" + ",".join(map(str, allowed.tolist())) + "]"
        with self._db.read() as conn:
            return self._keywords.discover(driver(conn), words, depth, generation(conn), allowed_json)

    def keyword_scores(self, words: Sequence[str], caption_ids: Iterable[int]) -> dict[int, float]:
        """BM25 of the OR of ``words`` for each of ``caption_ids`` that matches
        any (equal to SQLite's ``-bm25()``); ids matching none are absent."""
        with self._db.read() as conn:
            return self._keywords.bm25(driver(conn), words, caption_ids, generation(conn))

    def hit_rows(self, caption_ids: Sequence[int], filters: SearchFilters = NO_FILTERS) -> dict[int, list[HitRow]]:
        """For each caption id, the image rows (paths) searched by it."""
        return self._reads.hit_rows(caption_ids, filters)

    # -- browse and status (_reads) ------------------------------------------

    def current_caption_id_for_path(self, path: str) -> int | None:
        return self._reads.current_caption_id_for_path(path)

    def ok_paths(self) -> list[str]:
        """Every path indexed without error, sorted."""
        return self._reads.ok_paths()

    def image_detail(self, path: str) -> ImageDetail | None:
        """The row at ``path`` with every caption of its content; None if unknown."""
        return self._reads.image_detail(path)

    def status(self, failure_limit: int = 50) -> StoreStatus:
        return self._reads.status(failure_limit)

    def object_labels(self) -> list[tuple[str, int]]:
        """(label, how many contents) for the objects detected on searched captions, most common first."""
        return self._reads.object_labels()

    # -- duplicates and copies (_pictures) -------------------------------------

    def library_files(self, folder: str | None = None) -> list[LibraryFile]:
        """Every file indexed ok, with its content's picture hash and searched caption; by path."""
        return self._pictures.library_files(folder)

    def files_of_contents(self, content_hashes: Sequence[str]) -> list[LibraryFile]:
        """The ok files holding any of ``content_hashes``."""
        return self._pictures.files_of_contents(content_hashes)

    def picture_hashes(self, content_hashes: Iterable[str] | None = None) -> dict[str, bytes]:
        """The perceptual hash of each content that has one (all when ``content_hashes`` is None)."""
        return self._pictures.picture_hashes(content_hashes)

    def contents_without_picture_hash(self) -> dict[str, str]:
        """Content indexed before picture hashes existed: content hash -> one of its paths."""
        return self._pictures.contents_without_picture_hash()

    def write_picture_hashes(self, hashes: dict[str, bytes]) -> None:
        """Record picture hashes (content hash -> 8 bytes) of indexed content, in one transaction."""
        self._writer.write_picture_hashes(hashes)

    # -- where and with what photos were taken (_photo_details) ----------------

    def contents_without_details(self, paths: Sequence[str] | None = None) -> list[tuple[str, str, int, int]]:
        """(content hash, path, size, mtime_ns) of one file of each content whose EXIF
        was not read yet: content indexed before schema 8, or whose reading was cut short.
        ``paths``: only among the files at these paths."""
        with self._db.read() as conn:
            return contents_without_details(conn, paths)

    def write_photo_details(self, details: Sequence[PhotoDetails]) -> None:
        """Record place and camera of indexed content, in one transaction; the keyword
        index's ``place`` field follows."""
        self._writer.write_photo_details(details)

    def photo_details(self, content_hashes: Iterable[str]) -> dict[str, PhotoDetails]:
        """The stored place and camera of each of ``content_hashes`` whose EXIF was read."""
        with self._db.read() as conn:
            return details_by_hash(conn, content_hashes)

    # -- export and import (_export) -------------------------------------------

    def export_rows(self, chunk_size: int = 1000, *, vectors: bool = False) -> Iterator[list[ExportRow]]:
        """Every ok image with its searched caption, by path, in chunks, from one consistent snapshot."""
        return self._exchange.export_chunks(chunk_size, vectors=vectors)

    def captions_by_key(self, keys: Iterable[CaptionKey]) -> dict[CaptionKey, CaptionRecord]:
        """The stored captions at these (content hash, captioner, model id, task) keys, where they exist."""
        return self._exchange.captions_by_key(keys)
