"""The search paths that keep a million-image library fast (issue 8), checked
for being right, on small real stores: BM25 computed for candidates only,
keyword candidates found stage by stage, and filters checked on candidates
or listed in SQL. Speed itself is measured by ``python -m bench``."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

import picscribe.store._keyword as keyword_module
from picscribe.search import Retriever, SearchFilters
from picscribe.search.fusion import FusionWeights
from picscribe.search.query import fts_match, query_words
from picscribe.store import DB_NAME, CaptionRecord, ImageRecord, Store
from picscribe.store._filter_sql import allowed_sql

DIM = 16
WORDS = "boat boats harbour white red dog dogs beach café cafe zebra kayak forest street sign".split()


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def _library(home: Path, n: int, seed: int = 0) -> tuple[Store, dict[int, np.ndarray]]:
    """n images in folders of 10, dated over ten years, with random short
    texts spread over several FTS columns (tags, OCR, objects too)."""
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    store = Store.open(home)
    store.bind_embedder("test-embedder", DIM)
    store.ensure_active_captioner("fake", "fake-1")
    images, captions = [], []
    for i in range(n):
        h = f"{i:08x}"
        taken = f"{2015 + i % 10}-06-{1 + i % 28:02d} 12:00:00" if i % 7 else None  # some fall back to mtime
        images.append(
            ImageRecord(f"/lib/{i // 10:03d}/{i}.jpg", 100, (1_600_000_000 + i) * 10**9, h, 4, 3, "JPEG", taken)
        )
        text = " ".join(pick.choices(WORDS, k=pick.randint(2, 9)))
        captions.append(
            CaptionRecord(
                h,
                "fake",
                "fake-1",
                "caption",
                text,
                _unit(rng),
                tags=((pick.choice(WORDS), 0.9),) if i % 3 == 0 else (),
                ocr_text=pick.choice(WORDS) + " " + pick.choice(WORDS) if i % 4 == 0 else "",
                objects=((pick.choice(["dog", "boat", "person"]), 1 + i % 3, 0.9),) if i % 2 == 0 else (),
            )
        )
    store.write_batch(images=images, captions=captions)
    index = store.vector_index()
    vectors = {int(cid): index.vector(int(cid)) for cid in index.ids()}
    return store, vectors


class VectorsAsEmbedder:
    """Embeds a query as a vector chosen by the test (no model involved)."""

    name, dim = "test-embedder", DIM

    def __init__(self) -> None:
        self.next: np.ndarray | None = None

    def embed(self, texts: list[str]) -> np.ndarray:
        assert self.next is not None
        return np.stack([self.next] * len(texts))


@pytest.fixture
def library(tmp_path: Path) -> Iterator[tuple[Store, dict[int, np.ndarray]]]:
    store, vectors = _library(tmp_path / "lib", 400)
    yield store, vectors
    store.close()


@pytest.mark.parametrize(
    ("query", "match"),
    [
        ("white boat in a harbour", None),
        ("boats", None),
        ("cafe", None),
        ("café zebra kayak", None),
        ("street sign forest red white", None),
        # Two words, one stem: each is a phrase of the MATCH, and each counts.
        ("dog dog dogs", None),
        ("Kayak kayaks KAYAK zebra", None),
    ],
)
def test_bm25_for_candidates_equals_sqlites_bm25(
    library: tuple[Store, dict[int, np.ndarray]], query: str, match: str | None
) -> None:
    store, _ = library
    with closing(sqlite3.connect(store.home / DB_NAME)) as conn:
        expected = dict(
            conn.execute(
                "SELECT rowid, -bm25(search_text) FROM search_text WHERE search_text MATCH ?",
                (match or fts_match(query),),
            ).fetchall()
        )
    assert expected, "the query should match something"
    ids = list(expected)[:: max(1, len(expected) // 60)] + [10**9]  # a sample, and an id that does not exist
    got = store.keyword_scores(query_words(query), ids)
    assert set(got) == set(ids) - {10**9}
    for cid in got:
        assert got[cid] == pytest.approx(expected[cid], rel=1e-9), cid


def test_bm25_leaves_out_candidates_that_match_no_word(library: tuple[Store, dict[int, np.ndarray]]) -> None:
    store, vectors = library
    everything = store.keyword_scores(["zebra"], vectors)
    with closing(sqlite3.connect(store.home / DB_NAME)) as conn:
        matching = {r[0] for r in conn.execute("SELECT rowid FROM search_text WHERE search_text MATCH 'zebra'")}
    assert set(everything) == matching and 0 < len(matching) < len(vectors)


def test_document_frequency_follows_writes(library: tuple[Store, dict[int, np.ndarray]]) -> None:
    store, vectors = library
    before = store.keyword_scores(["lighthouse", "boat"], vectors)
    assert all(s > 0 for s in before.values()) and before
    rng = np.random.default_rng(9)
    store.write_batch(
        images=[ImageRecord("/new/l.jpg", 1, 1, "new-lighthouse", 4, 3, "JPEG", None)],
        captions=[CaptionRecord("new-lighthouse", "fake", "fake-1", "caption", "a lighthouse", _unit(rng))],
    )
    cid = store.current_caption_id_for_path("/new/l.jpg")
    assert cid is not None
    with closing(sqlite3.connect(store.home / DB_NAME)) as conn:
        [(expected,)] = conn.execute(
            "SELECT -bm25(search_text) FROM search_text"
            ' WHERE search_text MATCH \'"lighthouse" OR "boat"\' AND rowid = ?',
            (cid,),
        ).fetchall()
    assert store.keyword_scores(["lighthouse", "boat"], [cid])[cid] == pytest.approx(expected, rel=1e-9)


def _exact_or_top(store: Store, words: list[str], limit: int) -> list[int]:
    with closing(sqlite3.connect(store.home / DB_NAME)) as conn:
        match = " OR ".join(f'"{w}"' for w in words)
        return [
            r[0]
            for r in conn.execute(
                "SELECT rowid FROM search_text WHERE search_text MATCH ? ORDER BY bm25(search_text) LIMIT ?",
                (match, limit),
            )
        ]


def test_discovery_is_the_exact_bm25_top_while_few_rows_match(library: tuple[Store, dict[int, np.ndarray]]) -> None:
    store, _ = library
    words = query_words("white boat in a harbour")
    assert store.keyword_candidates(words, 20) == _exact_or_top(store, words, 20)


def test_discovery_past_the_cap_ranks_rows_with_the_rarer_words_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 captions say "white", 30 "zebra", 10 "kayak", 4 of them both:
    with the OR too big to rank, the rows with every word come first, then
    the rarest word's, then the next; the common word alone never is ranked."""
    rng = np.random.default_rng(2)
    with Store.open(tmp_path / "lib") as store:
        store.bind_embedder("test-embedder", DIM)
        store.ensure_active_captioner("fake", "fake-1")
        images, captions, kinds = [], [], {}
        for i in range(200):
            words = ["white", "room"] + (["zebra"] if i < 30 else []) + (["kayak"] if 26 <= i < 36 else [])
            images.append(ImageRecord(f"/lib/{i}.jpg", 1, i, f"h{i}", 4, 3, "JPEG", None))
            captions.append(CaptionRecord(f"h{i}", "fake", "fake-1", "caption", " ".join(words), _unit(rng)))
        store.write_batch(images=images, captions=captions)
        for i in range(200):
            kinds[store.current_caption_id_for_path(f"/lib/{i}.jpg")] = i
        monkeypatch.setattr(keyword_module, "RANK_CAP", 50)
        found = [kinds[cid] for cid in store.keyword_candidates(["white", "zebra", "kayak"], 25)]
    assert len(found) == 25
    assert set(found[:4]) == {26, 27, 28, 29}  # all three words
    assert set(found[4:10]) == set(range(30, 36))  # then kayak, the rarest
    assert set(found[10:]) < set(range(26))  # then zebra; "white" alone is too common to rank


def test_discovery_respects_the_allowed_ids(library: tuple[Store, dict[int, np.ndarray]]) -> None:
    store, vectors = library
    allowed = np.array(sorted(vectors)[:40], dtype=np.int64)
    found = store.keyword_candidates(["boat", "dog"], 50, allowed)
    assert found and set(found) <= set(allowed.tolist())


def _brute_top(
    store: Store, vectors: dict[int, np.ndarray], q: np.ndarray, filters: SearchFilters, k: int
) -> list[str]:
    allowed = store.filter_caption_ids(filters, list(vectors))
    ranked = sorted(allowed, key=lambda cid: -float(vectors[cid] @ q))
    paths = store.hit_rows(ranked[:k], filters)
    return [paths[cid][0].path for cid in ranked[:k]]


@pytest.mark.parametrize(
    ("filters", "listed"),
    [
        (
            SearchFilters(date_from="2015-01-01 00:00:00", date_to="2022-12-31 23:59:59"),
            False,
        ),  # ~70%: checked on candidates
        (SearchFilters(objects=("dog",)), False),  # ~17%
        (SearchFilters(folder="/lib/007"), True),  # 10 of 400: listed in SQL
        (SearchFilters(date_from="2019-06-01 00:00:00", date_to="2019-06-10 23:59:59"), True),
        (SearchFilters(objects=("dog",), folder="/lib/01"), True),
    ],
)
def test_filtered_vector_top_is_the_exact_filtered_top(
    library: tuple[Store, dict[int, np.ndarray]], filters: SearchFilters, listed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, vectors = library
    embedder = VectorsAsEmbedder()
    retriever = Retriever(store, embedder, FusionWeights(dense=1.0, keyword=0.0, depth_factor=1, min_depth=10))
    listed_calls: list[SearchFilters] = []
    real = store.allowed_caption_ids

    def listing(f: SearchFilters) -> np.ndarray:
        listed_calls.append(f)
        return real(f)

    monkeypatch.setattr(store, "allowed_caption_ids", listing)
    rng = np.random.default_rng(3)
    for _ in range(5):
        embedder.next = _unit(rng)
        got = [h.path for h in retriever.search("zz", limit=10, filters=filters)]
        assert got == _brute_top(store, vectors, embedder.next, filters, 10)
    assert bool(listed_calls) == listed


def test_a_narrow_filter_still_finds_its_keyword_match(tmp_path: Path) -> None:
    """The keyword top of the whole library is elsewhere; inside the folder,
    the one caption with the word must still be found and ranked first."""
    rng = np.random.default_rng(1)
    with Store.open(tmp_path / "lib") as store:
        store.bind_embedder("test-embedder", DIM)
        store.ensure_active_captioner("fake", "fake-1")
        images, captions = [], []
        for i in range(300):
            # Written last, the inside match loses every tie with the 259 outside.
            folder = "inside" if i >= 260 else "outside"
            text = "a zebra crossing" if i == 299 or i < 260 else "a quiet room"
            images.append(ImageRecord(f"/lib/{folder}/{i}.jpg", 1, i, f"h{i}", 4, 3, "JPEG", None))
            captions.append(CaptionRecord(f"h{i}", "fake", "fake-1", "caption", text, _unit(rng)))
        store.write_batch(images=images, captions=captions)
        embedder = VectorsAsEmbedder()
        embedder.next = _unit(rng)
        retriever = Retriever(store, embedder, FusionWeights(dense=0.0, keyword=1.0, depth_factor=1, min_depth=5))
        hits = retriever.search("zebra", limit=3, filters=SearchFilters(folder="/lib/inside"))
        assert hits[0].path == "/lib/inside/299.jpg" and hits[0].keyword == 1.0


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        (SearchFilters(date_from="2019-06-01 00:00:00"), "ix_images_when"),
        (SearchFilters(objects=("dog",)), "ix_objects_label"),
        (SearchFilters(folder="/lib/007"), "sqlite_autoindex_images_1 (path>? AND path<?)"),  # the unique index on path
    ],
)
def test_filters_start_from_their_indexes(
    library: tuple[Store, dict[int, np.ndarray]], filters: SearchFilters, index: str
) -> None:
    """A filter spelled differently from its index scans every image (1 s
    at 1M); the plan must name the index."""
    store, _ = library
    sql, params = allowed_sql(filters, listing=True)
    with closing(sqlite3.connect(store.home / DB_NAME)) as conn:
        conn.execute("ANALYZE")
        plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    assert index in plan, plan
