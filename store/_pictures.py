"""What the duplicates listing and the collapsing of copies in search read:
each indexed file with its content's perceptual hash ("picture hash") and
searched caption, and the content still missing a picture hash.

Raw SQL through the driver: at a million files a SQLAlchemy row object per
file costs more than the query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from . import _search_reads as search_reads
from ._db import Database, chunks, driver
from ._filter_sql import folder_range


@dataclass(frozen=True)
class LibraryFile:
    """One file indexed without error, as the duplicates tiers see it."""

    path: str
    content_hash: str
    size: int
    mtime_ns: int
    width: int | None
    height: int | None
    #: EXIF capture time ("YYYY-MM-DD HH:MM:SS"), None when the file has none.
    taken_at: str | None
    #: 8-byte perceptual hash of the content; empty for a flat picture (nothing to compare); None until computed.
    picture_hash: bytes | None
    #: The caption search uses for the content (its vector is in the FAISS index); None if none.
    caption_id: int | None


_FILES_SQL = (
    "SELECT i.path, i.content_hash, i.size, i.mtime_ns, i.width, i.height, i.taken_at, p.hash, cc.caption_id"
    " FROM images AS i"
    " LEFT JOIN picture_hashes AS p ON p.content_hash = i.content_hash"
    " LEFT JOIN current_captions AS cc ON cc.content_hash = i.content_hash"
    " WHERE i.status = 'ok'"
)


class Pictures:
    def __init__(self, db: Database) -> None:
        self._db = db

    def library_files(self, folder: str | None = None) -> list[LibraryFile]:
        """Every file indexed ok (inside ``folder``, an absolute directory, if given), by path."""
        sql, params = _FILES_SQL, tuple[str, ...]()
        if folder is not None:
            sql += " AND i.path >= ? AND i.path < ?"
            params = folder_range(folder)
        with self._db.read() as conn:
            rows = conn.exec_driver_sql(sql + " ORDER BY i.path", params).cursor.fetchall()
        return [LibraryFile(*row) for row in rows]

    def files_of_contents(self, content_hashes: Sequence[str]) -> list[LibraryFile]:
        """The ok files holding any of ``content_hashes``."""
        found: list[LibraryFile] = []
        with self._db.read() as conn:
            for part in chunks(sorted(set(content_hashes))):
                sql = _FILES_SQL + f" AND i.content_hash IN ({', '.join('?' * len(part))})"
                found += [LibraryFile(*row) for row in conn.exec_driver_sql(sql, tuple(part)).cursor.fetchall()]
        return found

    def picture_hashes(self, content_hashes: Iterable[str] | None = None) -> dict[str, bytes]:
        """The picture hash of each content that has one (all of them when ``content_hashes`` is None)."""
        with self._db.read() as conn:
            return search_reads.picture_hashes(driver(conn), content_hashes)

    def contents_without_picture_hash(self) -> dict[str, str]:
        """Content indexed before picture hashes existed: content hash -> one of its paths (the first by name)."""
        sql = (
            "SELECT i.content_hash, min(i.path) FROM images AS i"
            " WHERE i.status = 'ok' AND i.content_hash IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM picture_hashes AS p WHERE p.content_hash = i.content_hash)"
            " GROUP BY i.content_hash ORDER BY min(i.path)"
        )
        with self._db.read() as conn:
            return dict(conn.exec_driver_sql(sql).cursor.fetchall())
