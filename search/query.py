"""Turn free text into a safe SQLite FTS5 MATCH expression."""

from __future__ import annotations

import re

# A small English stop list: BM25's IDF already discounts common words, but
# matching on "a" or "the" alone would pull every caption into the pool.
_STOP = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the there this to was were with".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)


def fts_match(query: str) -> str:
    """OR of the query's words, each quoted so FTS5 syntax in user text is inert."""
    words = [w for w in _WORD.findall(query.lower()) if w not in _STOP]
    seen: list[str] = []
    for w in words:
        if w not in seen:
            seen.append(w)
    return " OR ".join(f'"{w}"' for w in seen)
