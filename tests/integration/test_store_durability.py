"""The store keeps SQLite, FTS and the FAISS cache in agreement: a missing,
damaged or stale vectors file is rebuilt, a kill -9 loses nothing committed
and duplicates nothing, removals and human text follow the invariants in
DESIGN.md ("Store invariants")."""

from __future__ import annotations

import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np
import pytest
from support.keyword_oracle import keyword_search

from picscribe.search.query import fts_match
from picscribe.store import (
    DB_NAME,
    VECTORS_NAME,
    CaptionRecord,
    CorruptIndexFile,
    ImageRecord,
    SearchFilters,
    Store,
    VectorIndex,
)

DIM = 8
EMBEDDER = "test-embedder"


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def image(path: str, content_hash: str) -> ImageRecord:
    return ImageRecord(path, 100, 1, content_hash, 4, 3, "JPEG", None)


def caption(content_hash: str, text: str, vector: np.ndarray, **kw: object) -> CaptionRecord:
    fields: dict = {"captioner": "fake", "model_id": "fake-1", "task": "caption"} | kw
    return CaptionRecord(content_hash=content_hash, text=text, vector=vector, **fields)


@contextmanager
def opened(home: Path) -> Iterator[Store]:
    store = Store.open(home)
    try:
        store.bind_embedder(EMBEDDER, DIM)
        store.ensure_active_captioner("fake", "fake-1")
        yield store
    finally:
        store.close()


def sql(home: Path, query: str, *params: object) -> list[tuple]:
    with closing(sqlite3.connect(home / DB_NAME)) as conn:
        return conn.execute(query, params).fetchall()


def current_ids(home: Path) -> set[int]:
    return {cid for (cid,) in sql(home, "SELECT caption_id FROM current_captions")}


QUERIES = [unit(10_000 + i) for i in range(12)]


def snapshot(store: Store) -> list[list[tuple[int, float]]]:
    """Top-5 (id, score) for fixed queries, unrestricted and filtered."""
    vi = store.vector_index()
    allowed = store.allowed_caption_ids(SearchFilters(folder="/photos/a"))
    out = [vi.search(q, 5) for q in QUERIES]
    out += [vi.search(q, 3, allowed=allowed) for q in QUERIES[:4]]
    assert all(out), "the index must not be empty"
    return out


def assert_file_valid(home: Path, store: Store) -> None:
    """The vectors file on disk is readable and agrees with SQLite."""
    vi, header = VectorIndex.load(home / VECTORS_NAME)
    status = store.status()
    assert (header.generation, header.count, header.embedder) == (status.generation, status.searchable, EMBEDDER)
    assert set(vi.ids().tolist()) == current_ids(home)


def build_library(home: Path) -> list[list[tuple[int, float]]]:
    """Three batches, with a removal and a replaced caption in between, so the
    in-memory index has seen removals as well as additions. Returns search
    results from the incrementally maintained index, before close."""
    with opened(home) as store:
        for b in range(3):
            rows = range(b * 10, b * 10 + 10)
            folder = "a" if b % 2 == 0 else "b"
            store.write_batch(
                images=[image(f"/photos/{folder}/{i}.jpg", f"h{i}") for i in rows],
                captions=[caption(f"h{i}", f"photo number{i}", unit(i)) for i in rows],
            )
            store.vector_index()  # loaded early, so later batches are applied as deltas
            if b == 1:
                store.remove_paths(["/photos/a/3.jpg", "/photos/a/4.jpg"])
                store.write_batch(captions=[caption("h5", "photo number5 again", unit(500), model_id="fake-2")])
                store.set_active_captioner("fake", "fake-2")
                store.flush()
        before = snapshot(store)
        assert len(store.vector_index()) == store.status().searchable == 28
    return before


def test_deleted_vectors_file_is_rebuilt_with_identical_results(tmp_path: Path) -> None:
    home = tmp_path / "idx"
    before = build_library(home)
    (home / VECTORS_NAME).unlink()
    with Store.open(home) as store:
        assert snapshot(store) == before
        assert_file_valid(home, store)
    with Store.open(home) as store:
        assert snapshot(store) == before


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _flip_middle(data: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 16]) + data[mid + 16 :]


def _garbage(data: bytes) -> bytes:
    return random.Random(1).randbytes(len(data))


@pytest.mark.parametrize("damage", [_truncate, _flip_middle, _garbage], ids=["truncated", "flipped", "garbage"])
def test_damaged_vectors_file_is_repaired(tmp_path: Path, damage) -> None:
    home = tmp_path / "idx"
    before = build_library(home)
    path = home / VECTORS_NAME
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CorruptIndexFile):
        VectorIndex.load(path)

    with Store.open(home) as store:
        assert snapshot(store) == before
        assert_file_valid(home, store)
    with Store.open(home) as store:
        assert snapshot(store) == before


def test_stale_vectors_file_is_detected_and_rebuilt(tmp_path: Path) -> None:
    home = tmp_path / "idx"
    path = home / VECTORS_NAME
    with opened(home) as store:
        store.write_batch(
            images=[image(f"/photos/a/{i}.jpg", f"h{i}") for i in range(5)],
            captions=[caption(f"h{i}", f"first{i}", unit(i)) for i in range(5)],
        )
        store.vector_index()
        store.flush()
        old = path.read_bytes()
        # Batch 2 keeps the count equal (one out, one in), so only the
        # generation tells the files apart.
        store.remove_paths(["/photos/a/0.jpg"])
        store.write_batch(images=[image("/photos/a/9.jpg", "h9")], captions=[caption("h9", "second9", unit(9))])
        assert len(store.vector_index()) == 5
    path.write_bytes(old)

    with Store.open(home) as store:
        vi = store.vector_index()
        cid9 = store.current_caption_id_for_path("/photos/a/9.jpg")
        assert vi.search(unit(9), 1)[0][0] == cid9
        assert set(vi.ids().tolist()) == current_ids(home)
        assert_file_valid(home, store)


def test_rewritten_caption_moves_fts_and_vectors(tmp_path: Path) -> None:
    """Writing the same (content, captioner, model, task) again replaces the
    caption row in place; the keyword index, the in-memory FAISS and the file
    on disk must all follow, not keep the old text and vector."""
    home = tmp_path / "idx"
    with opened(home) as store:
        store.write_batch(images=[image("/photos/a/1.jpg", "h1")], captions=[caption("h1", "giraffe", unit(1))])
        cid = store.current_caption_id_for_path("/photos/a/1.jpg")
        assert store.vector_index().search(unit(1), 1)[0][0] == cid
        store.write_batch(captions=[caption("h1", "zebra", unit(2))])
        assert store.current_caption_id_for_path("/photos/a/1.jpg") == cid
        assert keyword_search(store, fts_match("giraffe"), 5) == []
        assert [i for i, _ in keyword_search(store, fts_match("zebra"), 5)] == [cid]
        [(hit, score)] = store.vector_index().search(unit(2), 1)
        assert hit == cid and score == pytest.approx(1.0, abs=1e-5)
    with Store.open(home) as store:
        [(hit, score)] = store.vector_index().search(unit(2), 1)
        assert hit == cid and score == pytest.approx(1.0, abs=1e-5)
        assert_file_valid(home, store)


# -- kill -9 --------------------------------------------------------------------

ROWS = 4

WRITER = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    from picscribe.store import Store, ImageRecord, CaptionRecord

    home, mode, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])

    def say(*words):
        print(*words, flush=True)

    def unit(seed):
        v = np.random.default_rng(seed).standard_normal(8).astype(np.float32)
        return v / np.linalg.norm(v)

    if mode == "replace":
        # Stop inside the FAISS save, after the temp file is written and
        # before os.replace puts it in place, and wait there to be killed.
        real_replace = os.replace
        def stalled_replace(src, dst):
            if armed:
                say("replacing")
                time.sleep(60)
            real_replace(src, dst)
        os.replace = stalled_replace
        armed = False

    store = Store.open(home)
    store.bind_embedder("test-embedder", 8)
    store.ensure_active_captioner("fake", "fake-1")
    store.vector_index()
    batch = 0
    while True:
        keys = [(batch, r) for r in range(rows)]
        say("begin", batch)
        store.write_batch(
            images=[ImageRecord(f"/photos/b{b}/r{r}.jpg", 100, 1, f"b{b}r{r}", 4, 3, "JPEG", None) for b, r in keys],
            captions=[
                CaptionRecord(f"b{b}r{r}", "fake", "fake-1", "caption", f"photo tok{b}x{r}", unit(b * 100_000 + r))
                for b, r in keys
            ],
        )
        say("committed", batch)
        if mode == "replace" and batch == 6:
            armed = True
            store.close()
            say("closed without saving the vectors file")
            sys.exit(3)
        if batch % 2:
            say("flushing", batch)
            store.flush()
            say("flushed", batch)
        batch += 1
    """
)


def _reader(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put((time.monotonic(), line.split()))
    lines.put(None)


def run_and_kill(
    home: Path, mode: str, rows: int, kill_on: tuple[str, int | None], delay_fraction: float = 0.0
) -> set[int]:
    """Start the writer, SIGKILL it when it prints ``kill_on`` (a word and a
    batch number, None for any), and return the batches it reported committed.

    With ``delay_fraction``, wait that fraction of the time the previous
    batch took to write before killing, to land inside the next write."""
    # stderr goes to a file: an unread pipe could fill up and stall the writer.
    err_path = home.parent / "writer.stderr"
    with err_path.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(home), mode, str(rows)], stdout=subprocess.PIPE, stderr=err, text=True
        )
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True)
    reader.start()
    committed: set[int] = set()
    began: dict[int, float] = {}
    took = 0.0
    try:
        deadline = time.monotonic() + 20
        while True:
            # A writer that keeps printing but never says kill_on must not
            # keep the test waiting forever.
            assert time.monotonic() < deadline, f"writer never printed {kill_on}"
            item = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert item is not None, f"writer exited early ({proc.wait()}): {err_path.read_text()}"
            when, words = item
            if words[0] == "begin":
                began[int(words[1])] = when
            if words[0] == "committed":
                committed.add(int(words[1]))
                took = when - began[int(words[1])]
            if words[0] == kill_on[0] and (kill_on[1] is None or int(words[1]) == kill_on[1]):
                break
        if delay_fraction:
            time.sleep(delay_fraction * took)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        # Lines printed between the kill decision and the kill itself.
        while (item := lines.get_nowait() if not lines.empty() else None) is not None:
            words = item[1]
            if words[0] == "committed":
                committed.add(int(words[1]))
        if proc.stdout is not None:
            proc.stdout.close()
    return committed


def assert_consistent_after_crash(home: Path, committed: set[int], rows: int) -> set[int]:
    """Everything reported is there, every batch is whole, nothing is doubled,
    and vectors and keywords find each row. Returns the batches present."""
    assert sql(home, "PRAGMA integrity_check") == [("ok",)]
    assert sql(home, "PRAGMA foreign_key_check") == []
    per_batch: dict[str, dict[int, int]] = {}
    for table, column in [
        ("images", "content_hash"),
        ("captions", "content_hash"),
        ("current_captions", "content_hash"),
    ]:
        counts = sql(
            home,
            f"SELECT CAST(substr({column}, 2, instr({column}, 'r') - 2) AS INTEGER), count(*) FROM {table} GROUP BY 1",
        )
        per_batch[table] = dict(counts)
    present = set(per_batch["images"])
    # All of a batch or none of it, in every table.
    for table, batch_counts in per_batch.items():
        assert set(batch_counts) == present, table
        assert set(batch_counts.values()) <= {rows}, (table, batch_counts)
    assert committed <= present
    # Batches are written in order, so what is there is a prefix, and at most
    # one batch more than was reported (committed, killed before it printed).
    assert present == set(range(len(present)))
    assert len(present) <= max(committed, default=-1) + 2

    # No duplicates: one caption per content, one FTS row per current caption.
    assert sql(home, "SELECT count(*), count(DISTINCT content_hash) FROM captions") == [(len(present) * rows,) * 2]
    fts_rows = [r for (r,) in sql(home, "SELECT rowid FROM search_text")]
    assert sorted(fts_rows) == sorted(current_ids(home))
    assert sql(home, "SELECT count(*) FROM embeddings") == [(len(present) * rows,)]

    ids = {h: cid for h, cid in sql(home, "SELECT content_hash, caption_id FROM current_captions")}
    with Store.open(home) as store:
        vi = store.vector_index()
        status = store.status()
        assert len(vi) == status.searchable == len(present) * rows
        faiss_ids = vi.ids().tolist()
        assert len(faiss_ids) == len(set(faiss_ids)) and set(faiss_ids) == set(ids.values())
        # The id sets above are complete; searching every row of a large
        # batch would be slow, so check its ends and a sample in between.
        pick = random.Random(0)
        for b in present:
            sample = range(rows) if rows <= 8 else [0, rows - 1, *pick.sample(range(1, rows - 1), 6)]
            for r in sample:
                cid = ids[f"b{b}r{r}"]
                [(hit, score)] = vi.search(unit(b * 100_000 + r), 1)
                assert hit == cid and score == pytest.approx(1.0, abs=1e-5)
                assert [i for i, _ in keyword_search(store, fts_match(f"tok{b}x{r}"), 5)] == [cid]
        # The store goes on working: a new batch lands and is searchable.
        store.write_batch(
            images=[image("/photos/after.jpg", "after")], captions=[caption("after", "tokafter", unit(7))]
        )
        assert len(store.vector_index()) == status.searchable + 1
    with Store.open(home) as store:
        assert_file_valid(home, store)
    return present


def test_kill_while_writing_small_batches(tmp_path: Path) -> None:
    home = tmp_path / "idx"
    committed = run_and_kill(home, "stream", ROWS, ("committed", 25))
    assert len(committed) >= 26
    assert_consistent_after_crash(home, committed, ROWS)


def test_kill_inside_flush(tmp_path: Path) -> None:
    home = tmp_path / "idx"
    committed = run_and_kill(home, "stream", ROWS, ("flushing", 9))
    assert_consistent_after_crash(home, committed, ROWS)


def test_kill_between_temp_file_and_replace_on_close(tmp_path: Path) -> None:
    home = tmp_path / "idx"
    committed = run_and_kill(home, "replace", ROWS, ("replacing", None))
    assert committed == set(range(7))
    # Killed with the new file complete under its temp name; the file in
    # place is the one from the last flush (batch 5): stale, not torn.
    assert list(home.glob(VECTORS_NAME + ".*.tmp"))
    _, header = VectorIndex.load(home / VECTORS_NAME)
    assert header.count == 6 * ROWS
    present = assert_consistent_after_crash(home, committed, ROWS)
    assert present == committed


@pytest.mark.parametrize("fraction", [0.3, 0.7])
def test_kill_in_the_middle_of_a_large_batch(tmp_path: Path, fraction: float) -> None:
    """Big batches take a while to write, so a kill some way into one lands
    inside its transaction: the batch must be all there or not at all."""
    home = tmp_path / "idx"
    rows = 300
    committed = run_and_kill(home, "stream", rows, ("begin", 2), delay_fraction=fraction)
    assert committed >= {0, 1}
    assert_consistent_after_crash(home, committed, rows)


# -- removal and human text -------------------------------------------------------


def test_removing_the_last_path_drops_caption_text_and_vector(tmp_path: Path) -> None:
    home = tmp_path / "idx"
    with opened(home) as store:
        store.write_batch(
            images=[
                image("/photos/a/solo.jpg", "solo"),
                image("/photos/a/twin1.jpg", "twin"),
                image("/photos/b/twin2.jpg", "twin"),
            ],
            captions=[caption("solo", "lonely walrus", unit(1)), caption("twin", "twin pelicans", unit(2))],
        )
        solo = store.current_caption_id_for_path("/photos/a/solo.jpg")
        twin = store.current_caption_id_for_path("/photos/a/twin1.jpg")
        assert solo is not None and twin is not None
        assert len(store.vector_index()) == 2

        assert store.remove_paths(["/photos/a/solo.jpg", "/photos/a/twin1.jpg"]) == 2

        assert sql(home, "SELECT count(*) FROM captions WHERE content_hash = 'solo'") == [(0,)]
        assert sql(home, "SELECT count(*) FROM embeddings WHERE caption_id = ?", solo) == [(0,)]
        assert keyword_search(store, fts_match("walrus"), 5) == []
        assert solo not in store.vector_index().ids().tolist()
        assert [i for i, _ in store.vector_index().search(unit(1), 5)] == [twin]
        assert store.status().searchable == len(store.vector_index()) == 1
        # The twin lives on through its other path.
        assert [i for i, _ in keyword_search(store, fts_match("pelicans"), 5)] == [twin]
        assert [h.path for h in store.hit_rows([twin])[twin]] == ["/photos/b/twin2.jpg"]
    with Store.open(home) as store:
        assert store.vector_index().ids().tolist() == [twin]
        assert_file_valid(home, store)


def _searched(store: Store, path: str) -> tuple[str, bool, str]:
    cid = store.current_caption_id_for_path(path)
    assert cid is not None
    [row] = store.hit_rows([cid])[cid]
    return row.caption, row.human, row.captioner


def test_human_text_wins_and_stays(tmp_path: Path) -> None:
    home = tmp_path / "idx"
    path = "/photos/a/1.jpg"
    human = {"captioner": "human", "model_id": "", "human": True}
    with opened(home) as store:
        store.write_batch(images=[image(path, "h1")], captions=[caption("h1", "generated tern", unit(1))])
        assert _searched(store, path) == ("generated tern", False, "fake")
        store.vector_index()

        store.write_batch(captions=[caption("h1", "my grandmother's puffin", unit(2), **human)])
        assert _searched(store, path) == ("my grandmother's puffin", True, "human")

        # Newer generated text, from the active captioner and from another model.
        store.write_batch(captions=[caption("h1", "generated gull", unit(3))])
        store.write_batch(captions=[caption("h1", "generated skua", unit(4), model_id="fake-2")])
        assert _searched(store, path) == ("my grandmother's puffin", True, "human")

        store.set_active_captioner("fake", "fake-2")
        assert _searched(store, path) == ("my grandmother's puffin", True, "human")

        cid = store.current_caption_id_for_path(path)
        for word in ("tern", "gull", "skua"):
            assert keyword_search(store, fts_match(word), 5) == [], word
        assert [i for i, _ in keyword_search(store, fts_match("puffin"), 5)] == [cid]
        assert store.vector_index().ids().tolist() == [cid]
        assert store.vector_index().search(unit(2), 1)[0][1] == pytest.approx(1.0, abs=1e-5)

        # Editing the human text again replaces it everywhere.
        store.write_batch(captions=[caption("h1", "grandmother with puffins at dawn", unit(5), **human)])
        assert _searched(store, path) == ("grandmother with puffins at dawn", True, "human")
        assert [i for i, _ in keyword_search(store, fts_match("dawn"), 5)] == [cid]
        assert store.vector_index().search(unit(5), 1)[0] == (cid, pytest.approx(1.0, abs=1e-5))

        # Removing the file keeps human text; the file coming back brings it back.
        store.remove_paths([path])
        assert sql(home, "SELECT text FROM captions WHERE human = 1") == [("grandmother with puffins at dawn",)]
        assert sql(home, "SELECT count(*) FROM captions WHERE human = 0") == [(0,)]
        assert len(store.vector_index()) == 0
        store.write_batch(images=[image("/photos/b/moved.jpg", "h1")])
        assert _searched(store, "/photos/b/moved.jpg") == ("grandmother with puffins at dawn", True, "human")
    with Store.open(home) as store:
        assert _searched(store, "/photos/b/moved.jpg")[0] == "grandmother with puffins at dawn"
        assert_file_valid(home, store)


@pytest.mark.parametrize(
    "query",
    ['"unbalanced AND (NEAR', "NEAR(a b", "title:* OR", "-^+*:()\"'", "AND OR NOT", "", "   ", 'ünïcödé " walrus'],
)
def test_keyword_search_survives_fts_syntax(tmp_path: Path, query: str) -> None:
    home = tmp_path / "idx"
    with opened(home) as store:
        store.write_batch(
            images=[image("/photos/a/1.jpg", "h1")],
            captions=[caption("h1", "unbalanced walrus near a title", unit(1))],
        )
        cid = store.current_caption_id_for_path("/photos/a/1.jpg")
        hits = keyword_search(store, fts_match(query), 10)
        assert all(i == cid and s > 0 for i, s in hits)
        expect_hit = any(w in query.lower() for w in ("unbalanced", "near", "title", "walrus"))
        assert bool(hits) == expect_hit
