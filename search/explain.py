"""Why a hit matched: which query words it holds in which field, and how close its caption's meaning is.

Words are compared the way keyword search compares them: the query's words
(``query_words``: lower-cased, stop words dropped) and each field's words
reduced to the terms SQLite's ``porter unicode61`` tokenizer indexes (the
same settings as the store's ``search_text`` table), so "dogs" matches
"dog", "running" matches "runs" and "café" matches "cafe". A word counts as
matched in a field when its term occurs there; ``matched`` lists the query's
own words (as ``query_words`` gives them), not the field's.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .query import query_words, quoted_phrases

#: The keyword index's tokenizer (store: the ``search_text`` FTS5 table); a
#: test holds the two to the same answers.
KEYWORD_TOKENIZE = "porter unicode61"
#: What unicode61 counts as one token: runs of letters and digits.
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
#: Field names, in the order ``matched`` lists them.
FIELDS = ("caption", "ocr", "tags", "objects", "place")
_CACHE_MAX = 50_000


@dataclass(frozen=True)
class Matched:
    """The query words each field of a hit holds, and the dense similarity."""

    caption: tuple[str, ...] = ()
    ocr: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    place: tuple[str, ...] = ()
    dense: float = 0.0
    #: The query's quoted phrases found word for word (in order, nothing between) in some field.
    phrases: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {name: list(getattr(self, name)) for name in FIELDS}
        out["dense"] = round(self.dense, 6)
        out["phrases"] = list(self.phrases)
        return out

    @property
    def words(self) -> tuple[str, ...]:
        """Every matched query word, once, in field order."""
        return tuple(dict.fromkeys(w for name in FIELDS for w in getattr(self, name)))


class _Terms:
    """Each token's indexed term, from SQLite's own tokenizer; cached (a
    library's vocabulary is small), thread-safe."""

    def __init__(self) -> None:
        self._conn = sqlite3.connect(":memory:", check_same_thread=False)
        self._conn.execute(f"CREATE VIRTUAL TABLE doc USING fts5(t, tokenize = '{KEYWORD_TOKENIZE}')")
        self._conn.execute("CREATE VIRTUAL TABLE doc_terms USING fts5vocab(doc, instance)")
        self._lock = threading.Lock()
        self._cache: dict[str, str] = {}

    def of(self, tokens: Iterable[str]) -> dict[str, str]:
        """Each (lower-case) token's term; "" for one the tokenizer does not keep as one term."""
        wanted = set(tokens)
        with self._lock:
            missing = sorted(wanted - self._cache.keys())
            if missing:
                if len(self._cache) + len(missing) > _CACHE_MAX:
                    self._cache = {}
                with self._conn:
                    self._conn.executemany("INSERT INTO doc (rowid, t) VALUES (?, ?)", list(enumerate(missing, 1)))
                    terms: dict[int, list[str]] = {}
                    for term, doc in self._conn.execute("SELECT term, doc FROM doc_terms"):
                        terms.setdefault(doc, []).append(term)
                    self._conn.execute("DELETE FROM doc")
                for i, token in enumerate(missing, 1):
                    found = terms.get(i, [])
                    self._cache[token] = found[0] if len(found) == 1 else ""
            return {t: self._cache.get(t, "") for t in wanted}


_terms = _Terms()


def explain(query: str, fields: Mapping[str, str], dense: float) -> Matched:
    """Which of ``query``'s words each field's text holds (keys: ``FIELDS``;
    a missing field holds none), with the dense similarity alongside."""
    words = query_words(query)
    phrases = {p: [t.lower() for t in _TOKEN.findall(p)] for p in quoted_phrases(query)}
    tokens_by_field = {name: [t.lower() for t in _TOKEN.findall(fields.get(name) or "")] for name in FIELDS}
    every = [*words, *(t for ts in phrases.values() for t in ts), *(t for ts in tokens_by_field.values() for t in ts)]
    terms = _terms.of(every)
    found: dict[str, tuple[str, ...]] = {}
    field_terms: list[list[str]] = []
    for name, tokens in tokens_by_field.items():
        field_terms.append([terms[t] for t in tokens])
        held = set(field_terms[-1]) - {""}
        found[name] = tuple(w for w in words if terms[w] and terms[w] in held)
    verbatim = tuple(p for p, ts in phrases.items() if any(_contains(f, [terms[t] for t in ts]) for f in field_terms))
    return Matched(dense=dense, phrases=verbatim, **found)


def _contains(terms: list[str], run: list[str]) -> bool:
    """``run`` occurs in ``terms`` as consecutive items."""
    n = len(run)
    return n > 0 and any(terms[i : i + n] == run for i in range(len(terms) - n + 1))


def match_spans(text: str, words: Iterable[str]) -> list[tuple[int, int]]:
    """Where in ``text`` the words occur, by the same terms as ``explain``
    (``words`` as ``Matched`` lists them): (start, end) offsets, in order."""
    tokens = list(_TOKEN.finditer(text))
    wanted = list(words)
    terms = _terms.of([*wanted, *(m.group().lower() for m in tokens)])
    goal = {terms[w.lower()] for w in wanted} - {""}
    return [(m.start(), m.end()) for m in tokens if terms[m.group().lower()] in goal]
