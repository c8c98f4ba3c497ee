"""Numbered schema migrations, applied in order and recorded in ``PRAGMA user_version``.

Each migration is a list of SQL statements run in one transaction, so a crash
mid-migration leaves the previous version intact. Never edit a migration that
has shipped; append a new one. ``tests/test_store_schema.py`` checks that the
result matches the SQLAlchemy tables in ``_schema.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: SCHEMA_VERSION is read without importing SQLAlchemy
    from sqlalchemy import Connection

#: When a photo was taken: its EXIF time, else the file's modification
#: time. One spelling, shared by the index on it and the filters that use it
#: (SQLite uses an expression index only for the identical expression).
WHEN_SQL = "coalesce(taken_at, datetime(mtime_ns / 1000000000, 'unixepoch'))"

MIGRATIONS: list[list[str]] = [
    # 1: initial schema.
    [
        # NOT NULL is spelled out on TEXT primary keys: unlike INTEGER
        # PRIMARY KEY, SQLite lets them hold NULL otherwise.
        """CREATE TABLE meta (
            key TEXT NOT NULL PRIMARY KEY,
            value TEXT NOT NULL
        )""",
        # One row per file path. Content properties (size, dimensions) live
        # here too because a file is what the user points at; captions are
        # keyed by content hash so moves and duplicates reuse them.
        """CREATE TABLE images (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            content_hash TEXT,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            width INTEGER,
            height INTEGER,
            format TEXT,
            taken_at TEXT,
            status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
            error TEXT,
            indexed_at TEXT NOT NULL
        )""",
        "CREATE INDEX ix_images_content_hash ON images (content_hash)",
        """CREATE TABLE captions (
            id INTEGER PRIMARY KEY,
            content_hash TEXT NOT NULL,
            captioner TEXT NOT NULL,
            model_id TEXT NOT NULL,
            task TEXT NOT NULL,
            text TEXT NOT NULL,
            ocr_text TEXT NOT NULL DEFAULT '',
            human INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            UNIQUE (content_hash, captioner, model_id, task)
        )""",
        "CREATE INDEX ix_captions_content_hash ON captions (content_hash)",
        """CREATE TABLE tags (
            caption_id INTEGER NOT NULL REFERENCES captions (id) ON DELETE CASCADE,
            label TEXT NOT NULL,
            score REAL NOT NULL,
            PRIMARY KEY (caption_id, label)
        )""",
        # Every vector lives in SQLite; the FAISS file is a cache built from this.
        """CREATE TABLE embeddings (
            caption_id INTEGER NOT NULL REFERENCES captions (id) ON DELETE CASCADE,
            embedder TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (caption_id, embedder)
        )""",
        # The caption each image content is searched by: human text first,
        # then the active captioner's, then the newest. Materialised so that
        # search, FTS and FAISS agree on one row per content hash.
        """CREATE TABLE current_captions (
            content_hash TEXT NOT NULL PRIMARY KEY,
            caption_id INTEGER NOT NULL REFERENCES captions (id) ON DELETE CASCADE
        )""",
        "CREATE INDEX ix_current_captions_caption_id ON current_captions (caption_id)",
        # Keyword index over current captions; rowid = captions.id.
        """CREATE VIRTUAL TABLE search_text USING fts5(
            caption, tags, ocr, tokenize = 'porter unicode61'
        )""",
    ],
    # 2: detected objects with counts, a field of their own (tags are
    # classifier labels; objects are things a detector counted). FTS5 cannot
    # add a column, so the keyword index is rebuilt with an `objects` column
    # from the rows it indexed before; no caption had objects then.
    [
        """CREATE TABLE objects (
            caption_id INTEGER NOT NULL REFERENCES captions (id) ON DELETE CASCADE,
            label TEXT NOT NULL,
            count INTEGER NOT NULL CHECK (count >= 1),
            score REAL NOT NULL,
            PRIMARY KEY (caption_id, label)
        )""",
        "DROP TABLE search_text",
        """CREATE VIRTUAL TABLE search_text USING fts5(
            caption, tags, ocr, objects, tokenize = 'porter unicode61'
        )""",
        """INSERT INTO search_text (rowid, caption, tags, ocr, objects)
        SELECT c.id, c.text,
               COALESCE((SELECT group_concat(label, ' ') FROM tags WHERE caption_id = c.id), ''),
               c.ocr_text, ''
        FROM current_captions AS cc JOIN captions AS c ON c.id = cc.caption_id""",
    ],
    # 3: indexes for search filters at a million images. Filtering by an
    # object label or a date range scanned every image (1.2 s and 0.4 s at
    # 1M); these let SQLite start from the matching rows.
    [
        "CREATE INDEX ix_objects_label ON objects (label, caption_id)",
        f"CREATE INDEX ix_images_when ON images ({WHEN_SQL})",
    ],
    # 4: listing the ids a filter allows walks current_captions by caption
    # id and images by content hash; with the other column in the index
    # SQLite reads no table row (object filter at 1M: 136 -> 42 ms). Each
    # replaces an index that is its prefix.
    [
        "DROP INDEX ix_current_captions_caption_id",
        "CREATE INDEX ix_current_captions_caption_id_hash ON current_captions (caption_id, content_hash)",
        "DROP INDEX ix_images_content_hash",
        "CREATE INDEX ix_images_content_hash_status ON images (content_hash, status)",
    ],
    # 5: what a failed row's failure depended on (the captioner that failed,
    # or the decoder environment). A later run whose key differs tries the
    # file again: another captioner, or pillow-heif installed since. NULL on
    # a failed row means "retry whenever the file is seen" (it had vanished),
    # and so every failure recorded before this version is tried once more.
    [
        "ALTER TABLE images ADD COLUMN failure_key TEXT",
    ],
    # 6: two fingerprints on each file's row. pixel_hash is a hash of the
    # decoded pixels: a file whose bytes changed but whose pixels did not
    # (metadata written into it by exiftool, Lightroom or picscribe) keeps
    # its captions instead of being captioned again. sidecar_sig is the size
    # and mtime of the caption files and XMP sidecars next to it, so an
    # edited sidecar beside an unchanged image is read again. NULL on rows
    # from before this version: unknown, so nothing is reused on their word.
    [
        "ALTER TABLE images ADD COLUMN pixel_hash TEXT",
        "ALTER TABLE images ADD COLUMN sidecar_sig TEXT",
    ],
    # 7: a perceptual hash of each content's decoded picture, for the "same
    # picture" tier of duplicates (resized, re-encoded, converted or lightly
    # cropped copies) and for collapsing copies in search. Keyed by content
    # hash like captions: a moved or duplicated file needs no decode. Content
    # indexed before this version has none; `picscribe duplicates` decodes it
    # once (Library.fill_picture_hashes), in batches, so a stop loses little.
    [
        """CREATE TABLE picture_hashes (
            content_hash TEXT NOT NULL PRIMARY KEY,
            hash BLOB NOT NULL
        )""",
    ],
    # 8: where and with what each content was taken, from its EXIF: GPS
    # coordinates and the place they fall in (city, region, country, from
    # GeoNames, offline), and the camera. Keyed by content hash like
    # captions. A row means EXIF was read (its values may all be NULL: no
    # GPS, no camera); content indexed before this version has none, and
    # the next `picscribe index` reads its EXIF (not its pixels; nothing is
    # captioned again: indexer/photo_details_fill.py). ``place_key`` and
    # ``camera_key`` are the folded names the --place and --camera filters
    # match (see _photo_details.py). The keyword index gains a ``place``
    # column, so "beach in Portugal" finds photos taken there; FTS5 cannot
    # add a column, so it is rebuilt from the rows it indexed (no content
    # had a place yet).
    [
        """CREATE TABLE photo_details (
            content_hash TEXT NOT NULL PRIMARY KEY,
            latitude REAL,
            longitude REAL,
            city TEXT,
            region TEXT,
            country TEXT,
            country_code TEXT,
            place_key TEXT NOT NULL DEFAULT '',
            camera_make TEXT,
            camera_model TEXT,
            camera TEXT,
            camera_key TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE TABLE search_text_v8 (rowid INTEGER PRIMARY KEY, caption, tags, ocr, objects)",
        "INSERT INTO search_text_v8 (rowid, caption, tags, ocr, objects)"
        " SELECT rowid, caption, tags, ocr, objects FROM search_text",
        "DROP TABLE search_text",
        """CREATE VIRTUAL TABLE search_text USING fts5(
            caption, tags, ocr, objects, place, tokenize = 'porter unicode61'
        )""",
        """INSERT INTO search_text (rowid, caption, tags, ocr, objects, place)
        SELECT rowid, caption, tags, ocr, objects, '' FROM search_text_v8""",
        "DROP TABLE search_text_v8",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(RuntimeError):
    pass


def migrate(conn: Connection) -> int:
    """Bring the database to SCHEMA_VERSION; returns the version found before."""
    found = int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"index schema version {found} is newer than this picscribe understands "
            f"({SCHEMA_VERSION}); upgrade picscribe"
        )
    for version in range(found + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[version - 1]:
            conn.exec_driver_sql(statement)
        # PRAGMA takes no bound parameters; version is our own int.
        conn.exec_driver_sql(f"PRAGMA user_version = {version}")
    return found
