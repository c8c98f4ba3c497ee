"""The migrated SQLite schema: version, journal mode, agreement with the
SQLAlchemy tables in ``store._schema``, refusal of a newer database, and
re-opening without re-migrating."""

from __future__ import annotations

import hashlib
import sqlite3
import warnings
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import MetaData, Table, UniqueConstraint, create_engine
from support.keyword_oracle import keyword_search
from support.old_schema import downgrade_to_version_7

from picscribe.store import DB_NAME, SCHEMA_VERSION, CaptionRecord, ImageRecord, Store, StoreError, _schema
from picscribe.store import _migrations as migrations_module
from picscribe.store._migrations import MIGRATIONS

FTS_TABLE = "search_text"


def _sql(db: Path, query: str) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(query).fetchall()


def _fresh(tmp_path: Path) -> Path:
    home = tmp_path / "idx"
    Store.open(home).close()
    return home / DB_NAME


def _reflect(db: Path) -> MetaData:
    engine = create_engine(f"sqlite:///{db}")
    try:
        reflected = MetaData()
        with warnings.catch_warnings():
            # ix_images_when is on an expression, which SQLAlchemy cannot
            # reflect; test_filters_start_from_their_indexes covers it.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
            reflected.reflect(engine)
        return reflected
    finally:
        engine.dispose()


def _is_rowid_alias(db: Path, table: str) -> bool:
    """A lone ``INTEGER PRIMARY KEY`` is SQLite's rowid: it can never hold NULL
    (inserting NULL assigns the next id), although PRAGMA table_info, and so
    reflection, report it without NOT NULL."""
    info = _sql(db, f"PRAGMA table_info({table})")
    pk = [row for row in info if row[5] > 0]
    return len(pk) == 1 and pk[0][2].upper() == "INTEGER"


def _fts_tables(db: Path) -> set[str]:
    """The FTS5 table and its shadow tables, which _schema does not describe."""
    virtual = [
        name
        for name, sql in _sql(db, "SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        if sql.upper().startswith("CREATE VIRTUAL TABLE")
    ]
    shadow = {
        name
        for (name,) in _sql(db, "SELECT name FROM sqlite_master WHERE type = 'table'")
        if any(name.startswith(v + "_") for v in virtual)
    }
    return set(virtual) | shadow


def _describe(table: Table, rowid_alias: bool) -> dict:
    """What must agree between _schema and the database, as plain data."""
    columns = {}
    for col in table.columns:
        nullable = bool(col.nullable) and not (rowid_alias and col.primary_key)
        columns[col.name] = nullable
    return {
        "columns": columns,
        "primary_key": sorted(c.name for c in table.primary_key.columns),
        "foreign_keys": sorted((fk.parent.name, fk.column.table.name, fk.column.name) for fk in table.foreign_keys),
        "unique": sorted(
            tuple(sorted(c.name for c in uc.columns)) for uc in table.constraints if isinstance(uc, UniqueConstraint)
        ),
    }


def _assert_matches_schema(db: Path) -> None:
    reflected = _reflect(db)
    fts = _fts_tables(db)
    assert FTS_TABLE in fts
    assert set(reflected.tables) - fts == set(_schema.metadata.tables)
    for name, declared in _schema.metadata.tables.items():
        alias = _is_rowid_alias(db, name)
        assert _describe(reflected.tables[name], alias) == _describe(declared, alias), name


def test_fresh_store_is_at_schema_version_in_wal_mode(tmp_path: Path) -> None:
    db = _fresh(tmp_path)
    assert _sql(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    # journal_mode=WAL is stored in the database file, so a new connection sees it.
    assert _sql(db, "PRAGMA journal_mode") == [("wal",)]


def test_migrated_database_matches_sqlalchemy_tables(tmp_path: Path) -> None:
    db = _fresh(tmp_path)
    _assert_matches_schema(db)
    [(fts_sql,)] = _sql(db, f"SELECT sql FROM sqlite_master WHERE name = '{FTS_TABLE}'")
    assert "using fts5" in fts_sql.lower()


def test_text_primary_keys_refuse_null(tmp_path: Path) -> None:
    # SQLite accepts NULL in a non-INTEGER PRIMARY KEY unless it says NOT NULL.
    db = _fresh(tmp_path)
    with closing(sqlite3.connect(db)) as conn:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO meta (key, value) VALUES (NULL, 'x')")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO current_captions (content_hash, caption_id) VALUES (NULL, 1)")


def test_an_existing_index_is_upgraded_in_place_by_a_later_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening an index written by an older release applies only the newer
    migrations, in one transaction, and keeps the data."""
    home = tmp_path / "old"
    with Store.open(home) as store:
        store.bind_embedder("test-embedder", 8)
        store.ensure_active_captioner("fake", "fake-1")
        vec = np.zeros(8, dtype=np.float32)
        vec[0] = 1.0
        store.write_batch(
            images=[ImageRecord("/p/a.jpg", 10, 1, "h1", 4, 3, "JPEG", None)],
            captions=[CaptionRecord("h1", "fake", "fake-1", "caption", "a red kayak", vec)],
        )
        caption_id = store.current_caption_id_for_path("/p/a.jpg")
    assert caption_id is not None
    db = home / DB_NAME

    # A release that adds a column: the mechanism, tested before a real migration 2 exists.
    later = [*MIGRATIONS, ["ALTER TABLE images ADD COLUMN rating INTEGER"]]
    monkeypatch.setattr(migrations_module, "MIGRATIONS", later)
    monkeypatch.setattr(migrations_module, "SCHEMA_VERSION", len(later))
    with Store.open(home) as store:
        assert store.embedder_name == "test-embedder"
        assert store.current_caption_id_for_path("/p/a.jpg") == caption_id
        assert keyword_search(store, '"kayak"', 5)[0][0] == caption_id
        assert store.vector_index().search(vec, 1)[0][0] == caption_id
    assert _sql(db, "PRAGMA user_version") == [(len(later),)]
    assert "rating" in {row[1] for row in _sql(db, "PRAGMA table_info(images)")}
    assert _sql(db, "PRAGMA integrity_check") == [("ok",)]


def _downgrade_to_version_6(db: Path) -> None:
    """Turn a current index into what release 6 wrote: no picture hashes."""
    downgrade_to_version_7(db)
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("DROP TABLE picture_hashes")
        conn.execute("PRAGMA user_version = 6")
        conn.commit()


def test_migration_7_adds_picture_hashes_as_unknown(tmp_path: Path) -> None:
    home = tmp_path / "v6"
    with Store.open(home) as store:
        store.write_batch(images=[ImageRecord("/p/a.jpg", 10, 1, "h1", 4, 3, "JPEG", None, picture_hash=b"\x01" * 8)])
        assert store.picture_hashes() == {"h1": b"\x01" * 8}
    db = home / DB_NAME
    _downgrade_to_version_6(db)
    with Store.open(home) as store:
        # Content from before has no picture hash: it is decoded once (Library.fill_picture_hashes).
        assert store.picture_hashes() == {}
        assert store.contents_without_picture_hash() == {"h1": "/p/a.jpg"}
    assert _sql(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    _assert_matches_schema(db)
    assert _sql(db, "PRAGMA integrity_check") == [("ok",)]


def _downgrade_to_version_5(db: Path) -> None:
    """Turn a current index into what release 5 wrote: no pixel hash, no sidecar signature."""
    _downgrade_to_version_6(db)
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("ALTER TABLE images DROP COLUMN pixel_hash")
        conn.execute("ALTER TABLE images DROP COLUMN sidecar_sig")
        conn.execute("PRAGMA user_version = 5")
        conn.commit()


def test_migration_6_adds_pixel_hash_and_sidecar_signature_as_unknown(tmp_path: Path) -> None:
    home = tmp_path / "v5"
    with Store.open(home) as store:
        store.write_batch(images=[ImageRecord("/p/a.jpg", 10, 1, "h1", 4, 3, "JPEG", None, "px1:aa", "a.txt:3:1")])
    db = home / DB_NAME
    _downgrade_to_version_5(db)
    with Store.open(home) as store:
        state = store.file_states(["/p"])["/p/a.jpg"]
    # Unknown, not invented: nothing is reused on the word of a hash no run computed.
    assert (state.status, state.content_hash, state.pixel_hash, state.sidecar_sig) == ("ok", "h1", None, None)
    assert _sql(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    _assert_matches_schema(db)
    assert _sql(db, "PRAGMA integrity_check") == [("ok",)]


def _downgrade_to_version_4(db: Path) -> None:
    """Turn a current index into what release 4 wrote: failed rows without a failure_key."""
    _downgrade_to_version_5(db)
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("ALTER TABLE images DROP COLUMN failure_key")
        conn.execute("PRAGMA user_version = 4")
        conn.commit()


def test_migration_5_adds_failure_key_and_keeps_rows(tmp_path: Path) -> None:
    from picscribe.store import FailureRecord

    home = tmp_path / "v4"
    with Store.open(home) as store:
        store.write_batch(failures=[FailureRecord("/p/bad.jpg", 10, 1, "not an image", "decoder:x")])
    db = home / DB_NAME
    _downgrade_to_version_4(db)
    assert "failure_key" not in {row[1] for row in _sql(db, "PRAGMA table_info(images)")}

    with Store.open(home) as store:
        state = store.file_states(["/p"])["/p/bad.jpg"]
    # A failure from before keys existed has none: the next run tries it once more.
    assert (state.status, state.error, state.failure_key) == ("failed", "not an image", None)
    assert _sql(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    _assert_matches_schema(db)
    assert _sql(db, "PRAGMA integrity_check") == [("ok",)]


def _downgrade_to_version_1(db: Path) -> None:
    """Turn a current index into what release 1 wrote: no objects table and
    a keyword index without the objects column (nor version 3's indexes, nor
    version 5's failure_key)."""
    _downgrade_to_version_4(db)
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT rowid, caption, tags, ocr FROM search_text").fetchall()
        conn.execute("DROP INDEX ix_images_when")
        for later, first in [
            ("ix_current_captions_caption_id_hash", "ix_current_captions_caption_id"),
            ("ix_images_content_hash_status", "ix_images_content_hash"),
        ]:
            conn.execute(f"DROP INDEX {later}")
            conn.execute(next(sql for sql in MIGRATIONS[0] if f"INDEX {first} " in sql))
        conn.execute("DROP TABLE objects")
        conn.execute("DROP TABLE search_text")
        conn.execute(MIGRATIONS[0][-1])  # version 1's CREATE VIRTUAL TABLE search_text
        conn.executemany("INSERT INTO search_text (rowid, caption, tags, ocr) VALUES (?, ?, ?, ?)", rows)
        conn.execute("PRAGMA user_version = 1")
        conn.commit()


def test_migration_2_adds_objects_and_keeps_the_keyword_index(tmp_path: Path) -> None:
    home = tmp_path / "v1"
    vec = np.eye(8, dtype=np.float32)[2]
    with Store.open(home) as store:
        store.bind_embedder("test-embedder", 8)
        store.ensure_active_captioner("fake", "fake-1")
        store.write_batch(
            images=[ImageRecord("/p/a.jpg", 10, 1, "h1", 4, 3, "JPEG", None)],
            captions=[
                CaptionRecord(
                    "h1", "fake", "fake-1", "caption", "a red kayak", vec, ocr_text="RIVER", tags=(("boat", 0.9),)
                )
            ],
        )
        caption_id = store.current_caption_id_for_path("/p/a.jpg")
    assert caption_id is not None
    db = home / DB_NAME
    _downgrade_to_version_1(db)
    assert "objects" not in {r[0] for r in _sql(db, "SELECT name FROM sqlite_master")}

    with Store.open(home) as store:
        for query in ('"kayak"', '"boat"', '"river"'):  # caption, tags and OCR all still found
            assert [cid for cid, _ in keyword_search(store, query, 5)] == [caption_id]
        store.write_batch(
            captions=[
                CaptionRecord(
                    "h1",
                    "fake",
                    "fake-1",
                    "caption",
                    "a red kayak",
                    vec,
                    objects=(("boat", 2, 0.8), ("person", 1, 0.7)),
                )
            ],
        )
        assert [cid for cid, _ in keyword_search(store, "objects:person", 5)] == [caption_id]
        [row] = store.hit_rows([caption_id])[caption_id]
        assert row.objects == (("boat", 2), ("person", 1))
    assert _sql(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert _sql(db, "PRAGMA integrity_check") == [("ok",)]


def test_objects_are_replaced_with_their_caption_and_filter_search(tmp_path: Path) -> None:
    from picscribe.store import SearchFilters

    vec = np.eye(8, dtype=np.float32)[1]
    with Store.open(tmp_path / "idx") as store:
        store.bind_embedder("test-embedder", 8)
        store.ensure_active_captioner("fake", "fake-1")
        images = [ImageRecord(f"/p/{h}.jpg", 10, 1, h, 4, 3, "JPEG", None) for h in ("h1", "h2")]
        store.write_batch(
            images=images,
            captions=[
                CaptionRecord(
                    "h1",
                    "fake",
                    "fake-1",
                    "caption",
                    "a dog and a cat",
                    vec,
                    objects=(("dog", 1, 0.9), ("cat", 1, 0.8)),
                ),
                CaptionRecord("h2", "fake", "fake-1", "caption", "a dog", vec, objects=(("dog", 2, 0.9),)),
            ],
        )
        ids = {h: store.current_caption_id_for_path(f"/p/{h}.jpg") for h in ("h1", "h2")}
        assert set(store.allowed_caption_ids(SearchFilters(objects=("dog",))).tolist()) == set(ids.values())
        assert store.allowed_caption_ids(SearchFilters(objects=("dog", "cat"))).tolist() == [ids["h1"]]
        assert store.allowed_caption_ids(SearchFilters(objects=("horse",))).tolist() == []
        # Re-captioning replaces the objects; the old cat must not linger in the filter or the keyword index.
        store.write_batch(
            captions=[CaptionRecord("h1", "fake", "fake-1", "caption", "a dog", vec, objects=(("dog", 1, 0.9),))]
        )
        assert store.allowed_caption_ids(SearchFilters(objects=("cat",))).tolist() == []
        assert keyword_search(store, "objects:cat", 5) == []


def _fingerprint(home: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(home.iterdir())}


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_newer_schema_is_refused_and_left_untouched(tmp_path: Path, journal: str) -> None:
    home = tmp_path / "newer"
    home.mkdir()
    db = home / DB_NAME
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(f"PRAGMA journal_mode = {journal}")
        conn.execute("CREATE TABLE future_things (x TEXT)")
        conn.execute("INSERT INTO future_things VALUES ('keep me')")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.commit()
    before = _fingerprint(home)

    with pytest.raises(StoreError, match=rf"schema version {SCHEMA_VERSION + 1}.*newer.*upgrade picscribe"):
        Store.open(home)

    assert _fingerprint(home) == before
    assert _sql(db, "PRAGMA user_version") == [(SCHEMA_VERSION + 1,)]
    assert _sql(db, "PRAGMA journal_mode") == [(journal,)]
    assert _sql(db, "SELECT name FROM sqlite_master") == [("future_things",)]


def test_reopening_does_not_migrate_again(tmp_path: Path) -> None:
    home = tmp_path / "idx"
    vec = np.eye(8, dtype=np.float32)[3]
    with Store.open(home) as store:
        store.bind_embedder("test-embedder", 8)
        store.ensure_active_captioner("fake", "fake-1")
        store.write_batch(
            images=[ImageRecord("/p/a.jpg", 10, 1, "h1", 4, 3, "JPEG", None)],
            captions=[CaptionRecord("h1", "fake", "fake-1", "caption", "a lighthouse at dusk", vec)],
        )
        generation = store.status().generation
    db = home / DB_NAME
    schema_before = _sql(db, "SELECT type, name, sql FROM sqlite_master ORDER BY name")

    for _ in range(2):
        with Store.open(home) as store:
            status = store.status()
            assert (status.ok, status.searchable, status.generation) == (1, 1, generation)
            assert store.embedder_name == "test-embedder"
            assert store.active_captioner() == ("fake", "fake-1")
            cid = store.current_caption_id_for_path("/p/a.jpg")
            assert cid is not None
            assert store.hit_rows([cid])[cid][0].caption == "a lighthouse at dusk"
            assert [h for h, _ in keyword_search(store, '"lighthouse"', 5)] == [cid]

    assert _sql(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert _sql(db, "SELECT type, name, sql FROM sqlite_master ORDER BY name") == schema_before
