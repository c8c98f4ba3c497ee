"""Keyword retrieval over the FTS5 table, kept fast at a million captions.

SQLite's ``bm25()`` costs about 1.2 µs for every row the MATCH expression
hits, and an OR of ordinary words ("white boat harbour") hits a fifth of a
1M-caption library: 250 ms a query. So the two jobs are split:

- **Finding** keyword candidates (``discover``): rank the OR of the words
  when it matches at most ``RANK_CAP`` rows (small libraries: exactly the
  BM25 top). Otherwise rank the strictest sets first: all words, then
  without the most common word, and so on, then each word alone, rarest
  first, until ``depth`` rows are found. Rows that match the rarer words
  are the ones BM25 puts first, so this finds them at a bounded cost. A set
  of more than ``RANK_CAP`` rows is skipped and left to the vector side:
  among rows that all hold the same common words, BM25 only orders by
  length.
- **Scoring** candidates (``bm25``): FTS5's own BM25 formula (fts5_aux.c),
  computed here for just the candidate rows, with the library-wide row
  count, average length and per-word document frequency. Each row's text is
  tokenised by SQLite's own tokenizer (an in-memory FTS5 table with the same
  ``porter unicode61`` settings), so stems and diacritics match exactly.
  The result equals ``-bm25(search_text)`` of the OR query (a test holds it
  to that) at a cost that does not grow with the library.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from sqlite3 import Connection

#: The most rows a MATCH may hit for SQLite to rank them (about 12 ms).
RANK_CAP = 10_000
#: FTS5's BM25 constants (fts5_aux.c).
K1, B = 1.2, 0.75
_AVERAGES_ROWID = 1
_DF_CACHE_MAX = 20_000


def phrase(word: str) -> str:
    """A word as an FTS5 string: quoted, so FTS5 syntax in user text is inert."""
    return '"' + word.replace('"', '""') + '"'


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    """SQLite's varint: big-endian 7-bit groups, the ninth byte whole."""
    value = 0
    for _ in range(8):
        byte = buf[i]
        i += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, i
    return (value << 8) | buf[i], i + 1


def search_text_index() -> KeywordIndex:
    """The index over ``search_text``, the FTS5 table the migrations create (one per Store or search view)."""
    return KeywordIndex("search_text", ("caption", "tags", "ocr", "objects", "place"), "porter unicode61")


class KeywordIndex:
    """Finding and scoring over ``table`` (rowid = caption id). One per Store or
    search view, each passing the stdlib connection of its read transaction;
    thread-safe (the tokenizer connection is shared under a lock)."""

    def __init__(self, table: str, columns: Sequence[str], tokenize: str) -> None:
        self.table = table
        self.columns = tuple(columns)
        self._tok = sqlite3.connect(":memory:", check_same_thread=False)
        cols = ", ".join(self.columns)
        self._tok.execute(f"CREATE VIRTUAL TABLE doc USING fts5({cols}, tokenize = '{tokenize}')")
        self._tok.execute("CREATE VIRTUAL TABLE doc_terms USING fts5vocab(doc, instance)")
        self._tok_lock = threading.Lock()
        # Document frequency per word, valid for one store generation.
        self._df: dict[str, int] = {}
        self._df_generation: int | None = None

    def close(self) -> None:
        self._tok.close()

    # -- finding ---------------------------------------------------------

    def discover(
        self, conn: Connection, words: Sequence[str], depth: int, generation: int, allowed: str | None = None
    ) -> list[int]:
        """Up to ``depth`` caption ids that match the words, best BM25 first
        within each stage. ``allowed``: a JSON array of the ids that may be
        returned (a filter), or None."""
        words = list(self._stems(words))
        if not words or depth <= 0:
            return []
        any_word = " OR ".join(phrase(w) for w in words)
        if self._count_upto(conn, any_word) <= RANK_CAP:
            return self._rank(conn, any_word, depth, allowed)
        df = self.document_frequency(conn, words, generation)
        by_rarity = sorted(words, key=lambda w: (-df[w], w))  # most common first, then dropped first
        # Stages, strictest first: all the words, then without the most
        # common, ...; then each word alone, rarest first (a row may hold two
        # rare words but none both).
        stages = [" AND ".join(phrase(w) for w in by_rarity[dropped:]) for dropped in range(len(words))]
        stages += [phrase(w) for w in reversed(by_rarity[:-1])]
        found: dict[int, None] = {}
        for stage in stages:
            if len(found) >= depth:
                break
            if self._count_upto(conn, stage) > RANK_CAP:
                continue  # left to the vector side
            for cid in self._rank(conn, stage, depth, allowed):
                found.setdefault(cid)
        return list(found)[:depth]

    def _count_upto(self, conn: Connection, match: str) -> int:
        """Rows ``match`` hits, counted up to RANK_CAP + 1 (about 0.05 µs a row)."""
        sql = f"SELECT count(*) FROM (SELECT 1 FROM {self.table} WHERE {self.table} MATCH ? LIMIT ?)"
        return int(conn.execute(sql, (match, RANK_CAP + 1)).fetchone()[0])

    def _rank(self, conn: Connection, match: str, limit: int, allowed: str | None) -> list[int]:
        sql = f"SELECT rowid FROM {self.table} WHERE {self.table} MATCH ?"
        params: tuple[object, ...] = (match,)
        if allowed is not None:
            # The unary + keeps FTS5 from looking each allowed id up on its own
            # (2 ms apiece with bm25); the MATCH rows are few, so scan them.
            sql += " AND +rowid IN (SELECT value FROM json_each(?))"
            params += (allowed,)
        sql += f" ORDER BY bm25({self.table}) LIMIT ?"
        return [int(r[0]) for r in conn.execute(sql, params + (limit,))]

    # -- scoring ---------------------------------------------------------

    def bm25(self, conn: Connection, words: Sequence[str], ids: Iterable[int], generation: int) -> dict[int, float]:
        """BM25 of the OR of ``words`` for each id that matches any of them
        (positive, higher is better): what ``-bm25()`` gives for the same
        MATCH, computed for these rows only."""
        ids = sorted({int(i) for i in ids})
        stems = self._stems(words)
        words = list(stems)
        if not words or not ids:
            return {}
        n_rows, n_tokens = self._totals(conn)
        if n_rows == 0:
            return {}
        avgdl = n_tokens / n_rows
        df = self.document_frequency(conn, words, generation)
        # One phrase per word, as in the MATCH: two words with one stem
        # ("parked parking") each count, as they do in SQLite's bm25().
        idf: dict[str, float] = {}
        for w in words:
            value = math.log((n_rows - df[w] + 0.5) / (df[w] + 0.5))
            idf[w] = value if value > 0 else 1e-6  # fts5_aux.c's floor for very common words
        cols = ", ".join(self.columns)
        placeholders = ",".join("?" * len(ids))
        rows = conn.execute(f"SELECT rowid, {cols} FROM {self.table} WHERE rowid IN ({placeholders})", ids).fetchall()
        freq, length = self._term_counts(rows, set(stems.values()))
        out: dict[int, float] = {}
        for cid, counts in freq.items():
            norm = K1 * (1 - B + B * length[cid] / avgdl)
            out[cid] = sum(idf[w] * (f * (K1 + 1)) / (f + norm) for w in words if (f := counts.get(stems[w], 0)))
        return out

    def _totals(self, conn: Connection) -> tuple[int, int]:
        """Row count and total tokens (all columns), from FTS5's own averages record."""
        row = conn.execute(f"SELECT block FROM {self.table}_data WHERE id = ?", (_AVERAGES_ROWID,)).fetchone()
        blob: bytes | None = None if row is None else row[0]
        if not blob:
            return 0, 0
        n_rows, i = _varint(blob, 0)
        total = 0
        while i < len(blob):
            size, i = _varint(blob, i)
            total += size
        return n_rows, total

    def document_frequency(self, conn: Connection, words: Sequence[str], generation: int) -> dict[str, int]:
        """Rows containing each word, cached until the store's generation moves."""
        if generation != self._df_generation or len(self._df) > _DF_CACHE_MAX:
            self._df, self._df_generation = {}, generation
        # A local reference: another thread may swap in a fresh cache meanwhile.
        cache = self._df
        sql = f"SELECT count(*) FROM {self.table} WHERE {self.table} MATCH ?"
        out: dict[str, int] = {}
        for w in words:
            if w not in cache:
                cache[w] = int(conn.execute(sql, (phrase(w),)).fetchone()[0])
            out[w] = cache[w]
        return out

    def _stems(self, words: Sequence[str]) -> dict[str, str]:
        """Each word's indexed term (stemmed, folded) by SQLite's tokenizer,
        in order; a word that is not exactly one token is left out."""
        with self._tok_lock, self._tok:
            self._tok.executemany(
                f"INSERT INTO doc (rowid, {self.columns[0]}) VALUES (?, ?)", list(enumerate(words, start=1))
            )
            terms: dict[int, list[str]] = {}
            for term, doc in self._tok.execute("SELECT term, doc FROM doc_terms"):
                terms.setdefault(doc, []).append(term)
            self._tok.execute("DELETE FROM doc")
        return {w: terms[i][0] for i, w in enumerate(words, start=1) if len(terms.get(i, ())) == 1}

    def _term_counts(
        self, rows: Sequence[Sequence[object]], wanted: set[str]
    ) -> tuple[dict[int, dict[str, int]], dict[int, int]]:
        """For each row: how often each wanted term occurs (all columns), and its length in tokens."""
        cols = ", ".join(self.columns)
        qs = ",".join("?" * (len(self.columns) + 1))
        freq: dict[int, dict[str, int]] = {}
        length: dict[int, int] = {}
        with self._tok_lock, self._tok:
            self._tok.executemany(f"INSERT INTO doc (rowid, {cols}) VALUES ({qs})", [tuple(r) for r in rows])
            for term, doc, n in self._tok.execute("SELECT term, doc, count(*) FROM doc_terms GROUP BY term, doc"):
                length[doc] = length.get(doc, 0) + n
                if term in wanted:
                    freq.setdefault(doc, {})[term] = n
            self._tok.execute("DELETE FROM doc")
        return freq, length
