"""Turn a current index back into what an earlier release wrote, to test its upgrade."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from picscribe.store._migrations import MIGRATIONS


def downgrade_to_version_7(db: Path) -> None:
    """What release 7 wrote: no photo_details (place, camera) and a keyword index without ``place``."""
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT rowid, caption, tags, ocr, objects FROM search_text").fetchall()
        conn.execute("DROP TABLE photo_details")
        conn.execute("DROP TABLE search_text")
        conn.execute(next(sql for sql in MIGRATIONS[1] if "CREATE VIRTUAL TABLE search_text" in sql))
        conn.executemany("INSERT INTO search_text (rowid, caption, tags, ocr, objects) VALUES (?, ?, ?, ?, ?)", rows)
        conn.execute("PRAGMA user_version = 7")
        conn.commit()
