"""Turn free text into the words keyword search looks for."""

from __future__ import annotations

import re

# A small English stop list: BM25's IDF already discounts common words, but
# matching on "a" or "the" alone would pull every caption into the pool.
_STOP = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the there this to was were with".split()
)
# Letters and digits only: SQLite's unicode61 tokenizer splits on everything
# else (the underscore too), so each word here is exactly one indexed token.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def query_words(query: str) -> list[str]:
    """The query's distinct words, lower-cased, stop words removed, in order."""
    seen: list[str] = []
    for w in _WORD.findall(query.lower()):
        if w not in _STOP and w not in seen:
            seen.append(w)
    return seen


#: A quoted phrase: straight or curly double quotes around it.
_QUOTED = re.compile(r'["\u201c\u201d]([^"\u201c\u201d]+)["\u201c\u201d]')


def quoted_phrases(query: str) -> list[str]:
    """The query's phrases in double quotes, as written, each once, in order;
    an unpaired quote is not a phrase."""
    seen: list[str] = []
    for phrase in _QUOTED.findall(query):
        if _WORD.search(phrase) and phrase.strip() not in seen:
            seen.append(phrase.strip())
    return seen


def fts_match(query: str) -> str:
    """OR of the query's words, each quoted so FTS5 syntax in user text is inert."""
    return " OR ".join(f'"{w}"' for w in query_words(query))
