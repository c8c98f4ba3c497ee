"""What the indexer asks the store before it writes: which files are known
and in what state, which content already has a caption, where content lives,
which folders belong to the library, and what could not be read.

SQLAlchemy Core throughout: lookups by indexed keys, in chunks where a list
of keys is bound.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import fields

from sqlalchemy import Connection, func, select

from . import _roots
from . import _schema as t
from ._current import SEARCH_TASK
from ._db import Database, chunks, get_meta, set_meta
from ._filters import inside_folder, under
from ._records import FileState, ImageRecord

#: Meta key: JSON list of {"path", "error"} for folders the last scans could not list.
_UNREADABLE_FOLDERS = "unreadable_folders"

#: A path, then FileState's fields in order.
_FILE_STATE_COLUMNS = (
    t.images.c.path,
    t.images.c.size,
    t.images.c.mtime_ns,
    t.images.c.status,
    t.images.c.content_hash,
    t.images.c.error,
    t.images.c.failure_key,
    t.images.c.pixel_hash,
    t.images.c.sidecar_sig,
)


def unreadable_folders(conn: Connection) -> list[tuple[str, str]]:
    """(folder, why) for each folder the last scans could not list."""
    return [(e["path"], e["error"]) for e in json.loads(get_meta(conn, _UNREADABLE_FOLDERS) or "[]")]


class Catalog:
    """The indexer's lookups, and the scan results it records (roots, unreadable folders)."""

    def __init__(self, db: Database, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    def file_states(self, roots: Iterable[str]) -> dict[str, FileState]:
        """Known files under any of ``roots`` (absolute directories or files)."""
        out: dict[str, FileState] = {}
        with self._db.read() as conn:
            for root in roots:
                for row in conn.execute(select(*_FILE_STATE_COLUMNS).where(under(t.images.c.path, root))):
                    out[row[0]] = FileState(*row[1:])
        return out

    def file_states_at(self, paths: Iterable[str], folders: Iterable[str] = ()) -> dict[str, FileState]:
        """Known files at exactly ``paths`` and anywhere inside ``folders``.

        Unlike ``file_states`` this uses the path index (equality and a key
        range), so a watcher asking about a few changed paths does not read
        every row of a large library.
        """
        out: dict[str, FileState] = {}
        cols = _FILE_STATE_COLUMNS
        with self._db.read() as conn:
            for chunk in chunks(list(dict.fromkeys(paths))):
                for row in conn.execute(select(*cols).where(t.images.c.path.in_(chunk))):
                    out[row[0]] = FileState(*row[1:])
            for folder in dict.fromkeys(folders):
                for row in conn.execute(select(*cols).where(inside_folder(t.images.c.path, folder))):
                    out[row[0]] = FileState(*row[1:])
        return out

    def hashes_with_caption(self, captioner: str, model_id: str) -> set[str]:
        q = select(t.captions.c.content_hash).where(
            t.captions.c.captioner == captioner, t.captions.c.model_id == model_id, t.captions.c.task == SEARCH_TASK
        )
        with self._db.read() as conn:
            return {r[0] for r in conn.execute(q)}

    def hashes_with_current_caption(self) -> set[str]:
        with self._db.read() as conn:
            return {r[0] for r in conn.execute(select(t.current_captions.c.content_hash))}

    def image_info_by_hash(self, hashes: Iterable[str]) -> dict[str, ImageRecord]:
        """One ok row of each known content, so a moved or duplicated file is
        recorded without decoding it again: what the row says about the
        content (size in pixels, format, time taken, pixel hash) holds for
        every file with these bytes. Its path, size and mtime are one file's."""
        out: dict[str, ImageRecord] = {}
        i = t.images
        # ImageRecord's fields that are columns of the images table, by the same names.
        names = [f.name for f in fields(ImageRecord) if f.name in i.c]
        with self._db.read() as conn:
            for chunk in chunks(list(hashes)):
                q = select(*(i.c[n] for n in names)).where(i.c.content_hash.in_(chunk), i.c.status == "ok")
                for row in conn.execute(q):
                    rec = ImageRecord(**dict(zip(names, row, strict=True)))
                    out[rec.content_hash] = rec
        return out

    def ok_paths_of(self, hashes: Iterable[str]) -> dict[str, list[str]]:
        """Every path indexed ok with each of ``hashes``, sorted."""
        out: dict[str, list[str]] = {}
        i = t.images
        with self._db.read() as conn:
            # Each hash falls in one chunk, so each list comes out sorted.
            for chunk in chunks(sorted(set(hashes))):
                q = select(i.c.content_hash, i.c.path).where(i.c.content_hash.in_(chunk), i.c.status == "ok")
                for h, path in conn.execute(q.order_by(i.c.path)):
                    out.setdefault(h, []).append(path)
        return dict(sorted(out.items(), key=lambda item: item[1][0]))  # in path order, as one query would give

    def paths_by_hash(self) -> dict[str, str]:
        """One indexed path for each distinct content, for re-captioning."""
        i = t.images
        q = select(i.c.content_hash, func.min(i.c.path)).where(i.c.status == "ok").group_by(i.c.content_hash)
        with self._db.read() as conn:
            return {h: p for h, p in conn.execute(q)}

    def failed_paths_under(self, roots: Iterable[str]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        with self._db.read() as conn:
            for root in roots:
                q = select(t.images.c.path, t.images.c.error).where(
                    t.images.c.status == "failed", under(t.images.c.path, root)
                )
                out.extend((p, e or "") for p, e in conn.execute(q))
        return sorted(out)

    def record_unreadable_folders(self, roots: Iterable[str], folders: Iterable[tuple[str, str]]) -> None:
        """Remember the (folder, why) that a scan of ``roots`` could not list,
        replacing what earlier scans of those roots found, so that ``status``
        still shows them after the run's own output is gone. Folders under
        other roots are kept: indexing one root says nothing about another."""
        prefixes = [r.rstrip("/") + "/" for r in roots]

        def scanned(path: str) -> bool:
            return any((path + "/").startswith(p) for p in prefixes)

        with self._lock, self._db.write() as conn:
            before = json.loads(get_meta(conn, _UNREADABLE_FOLDERS) or "[]")
            after = [e for e in before if not scanned(e["path"])]
            after += [{"path": p, "error": e} for p, e in dict(folders).items()]
            after.sort(key=lambda e: e["path"])
            if after != before:
                # ASCII JSON: a folder name that is not UTF-8 (surrogate escapes) stays storable.
                set_meta(conn, _UNREADABLE_FOLDERS, json.dumps(after))

    # -- library roots (what the UI may serve; see _roots.py) ----------------

    def library_roots(self, *, derive: bool = True) -> tuple[str, ...]:
        """The folders (or files) the user indexed or watched, outermost only.

        An index from before roots were recorded answers with the outermost
        folders holding its images (``derive``; otherwise with none), until
        the next ``add_library_roots`` records them for good.
        """
        with self._db.read() as conn:
            if not derive:
                return _roots.decode(get_meta(conn, _roots.META_KEY)) or ()
            return self._library_roots(conn)

    def add_library_roots(self, roots: Iterable[str]) -> tuple[str, ...]:
        """Record ``roots`` (made absolute) as part of the library; returns the new list."""
        new = _roots.normalised(roots)
        with self._db.write() as conn:
            merged = _roots.outermost([*self._library_roots(conn), *new])
            if merged != _roots.decode(get_meta(conn, _roots.META_KEY)):
                set_meta(conn, _roots.META_KEY, _roots.encode(merged))
        return merged

    @staticmethod
    def _library_roots(conn: Connection) -> tuple[str, ...]:
        recorded = _roots.decode(get_meta(conn, _roots.META_KEY))
        if recorded is not None:
            return recorded
        paths = conn.execute(select(t.images.c.path).where(t.images.c.status == "ok")).scalars()
        return _roots.derived_from_images(paths)
