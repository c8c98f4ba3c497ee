"""SQLite's own ``bm25()`` ranking of a MATCH expression over the FTS table:
the plain answer that the store's keyword retrieval (``store._keyword``) is
checked against, and a way to see exactly what the FTS rows hold.

It reads the database file through its own connection, not through the
store, so it shares none of the code it checks.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

from picscribe.store import DB_NAME, Store


def keyword_search(store: Store, match: str, limit: int) -> list[tuple[int, float]]:
    """(caption id, score) of the rows matching FTS5 expression ``match``, best
    first; scores are positive, higher is better (SQLite's bm25() negated)."""
    if not match:
        return []
    sql = "SELECT rowid, -bm25(search_text) AS s FROM search_text WHERE search_text MATCH ? ORDER BY s DESC LIMIT ?"
    with closing(sqlite3.connect(store.home / DB_NAME)) as conn:
        return [(int(cid), float(score)) for cid, score in conn.execute(sql, (match, limit))]
