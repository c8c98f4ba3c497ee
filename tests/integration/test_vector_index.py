"""The FAISS layout follows the collection's size: flat while small, IVF-SQ8
once large, switched only at a boundary and rebuilt the same way from
SQLite; adds and removes are applied in place; a filter keeps the top-k
right. Sizes are shrunk with monkeypatch so the tests stay small."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from picscribe.store import VECTORS_NAME, CaptionRecord, CorruptIndexFile, ImageRecord, Store, VectorIndex
from picscribe.store import _vector_index as vx

DIM = 16


def clustered(n: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 12 centres: structured like caption embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((12, DIM)).astype(np.float32)
    v = centres[rng.integers(0, 12, n)] + 0.3 * rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def exact_top(vectors: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    scores = vectors @ q
    order = np.lexsort((ids, -scores))[:k]
    return [int(ids[i]) for i in order]


@pytest.fixture
def small_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vx, "FLAT_MAX", 300)
    monkeypatch.setattr(vx, "_TRAIN_PER_LIST", 20)


def test_layout_follows_size(small_sizes: None) -> None:
    assert vx.IndexSpec.for_size(299).kind == "flat"
    spec = vx.IndexSpec.for_size(1_000)
    assert (spec.kind, spec.nlist, spec.trained_on) == ("ivf-sq8", 32, 1_000)
    assert spec.fits(1_000) and spec.fits(150) and spec.fits(4_000)
    assert not spec.fits(149) and not spec.fits(4_001)
    assert not vx.IndexSpec().fits(300)


def test_ivf_adds_and_removes_in_place(small_sizes: None) -> None:
    vecs = clustered(1_200)
    ids = np.arange(1_000, 2_200, dtype=np.int64)
    vi = VectorIndex.build(DIM, ids[:1_000], vecs[:1_000])
    assert vi.spec.kind == "ivf-sq8"
    vi.add(ids[1_000:], vecs[1_000:])
    gone = ids[::3]
    vi.remove(gone)
    assert not vi.needs_rebuild()
    assert sorted(vi.ids().tolist()) == sorted(set(ids.tolist()) - set(gone.tolist()))
    for q in clustered(20, seed=5):
        hits = [i for i, _ in vi.search(q, 10)]
        assert len(hits) == 10 and not set(hits) & set(gone.tolist())
    kept = ids[1]
    assert float(np.dot(vi.vector(int(kept)), vecs[1])) == pytest.approx(1.0, abs=0.01)


def test_ivf_recall_against_exact(small_sizes: None) -> None:
    vecs = clustered(2_000)
    ids = np.arange(2_000, dtype=np.int64)
    vi = VectorIndex.build(DIM, ids, vecs)
    recalls = [
        len({i for i, _ in vi.search(q, 10)} & set(exact_top(vecs, ids, q, 10))) / 10 for q in clustered(50, seed=9)
    ]
    assert np.mean(recalls) >= 0.9


def test_filtered_flat_search_keeps_the_top_k_of_the_allowed_ids() -> None:
    vecs = clustered(250)
    ids = np.arange(250, dtype=np.int64) * 7
    vi = VectorIndex.build(DIM, ids, vecs)
    assert vi.spec.kind == "flat"
    allowed_rows = np.random.default_rng(3).choice(250, 40, replace=False)
    # An id the index does not hold (another embedder's caption) is ignored.
    allowed = np.append(ids[allowed_rows], 99_999)
    for q in clustered(10, seed=4):
        got = [i for i, _ in vi.search(q, 5, allowed)]
        assert got == exact_top(vecs[allowed_rows], ids[allowed_rows], q, 5)
        # Only low ids allowed: every id above them must still be excluded.
        got = [i for i, _ in vi.search(q, 5, ids[:20])]
        assert got == exact_top(vecs[:20], ids[:20], q, 5)


def test_narrow_filter_on_ivf_scans_every_list(small_sizes: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vx, "EXACT_FILTER_MAX", 0)  # the IVF path, not the decode-them-all one
    vecs = clustered(1_000)
    ids = np.arange(1_000, dtype=np.int64)
    vi = VectorIndex.build(DIM, ids, vecs)
    # 2.7% of the ids, spread over every list: nprobe/sqrt(share) reaches nlist.
    allowed = np.arange(0, 1_000, 37, dtype=np.int64)
    stored = vi.vectors(allowed)
    for q in clustered(10, seed=6):
        got = [i for i, _ in vi.search(q, 8, allowed)]
        assert got == exact_top(stored, allowed, q, 8)


def test_a_few_allowed_ids_are_searched_exactly_by_their_own_vectors(
    small_sizes: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    vecs = clustered(1_000)
    ids = np.arange(1_000, dtype=np.int64)
    vi = VectorIndex.build(DIM, ids, vecs)
    vi._index.nprobe = 1  # an IVF search would miss most of these
    monkeypatch.setattr(vx, "EXACT_FILTER_MAX", 60)
    allowed = np.arange(3, 1_000, 19, dtype=np.int64)  # 53 ids
    stored = vi.vectors(allowed)
    for q in clustered(10, seed=7):
        got = [i for i, _ in vi.search(q, 8, allowed)]
        assert got == exact_top(stored, allowed, q, 8)
    # An id FAISS does not hold (a write from another process not seen yet) is no error.
    assert len(vi.search(clustered(1, seed=8)[0], 8, np.append(allowed, 10**6))) == 8


def test_build_is_deterministic_and_order_free(small_sizes: None, tmp_path: Path) -> None:
    vecs = clustered(800)
    ids = np.arange(800, dtype=np.int64) + 5
    perm = np.random.default_rng(1).permutation(800)
    a = VectorIndex.build(DIM, ids, vecs)
    b = VectorIndex.build(DIM, ids[perm], vecs[perm])
    header = vx.IndexHeader(generation=1, count=800, dim=DIM, embedder="e")
    a.save(tmp_path / "a", header)
    b.save(tmp_path / "b", header)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_header_records_the_layout_and_a_mismatch_is_corrupt(small_sizes: None, tmp_path: Path) -> None:
    vi = VectorIndex.build(DIM, np.arange(600, dtype=np.int64), clustered(600))
    path = tmp_path / VECTORS_NAME
    vi.save(path, vx.IndexHeader(generation=3, count=600, dim=DIM, embedder="e"))
    loaded, header = VectorIndex.load(path)
    assert header.spec == vi.spec == loaded.spec and header.spec.kind == "ivf-sq8"
    q = clustered(1, seed=2)[0]
    assert loaded.search(q, 5) == vi.search(q, 5)

    data = path.read_bytes()
    (meta_len,) = struct.unpack_from("<I", data, 8)
    meta = json.loads(data[12 : 12 + meta_len])
    meta["spec"]["kind"] = "flat"
    new_meta = json.dumps(meta).encode()
    path.write_bytes(data[:8] + struct.pack("<I", len(new_meta)) + new_meta + data[12 + meta_len :])
    with pytest.raises(CorruptIndexFile, match="unexpected index type"):
        VectorIndex.load(path)


def _write(store: Store, rows: range, vecs: np.ndarray) -> None:
    store.write_batch(
        images=[ImageRecord(f"/p/{i}.jpg", 1, 1, f"h{i}", 4, 3, "JPEG", None) for i in rows],
        captions=[
            CaptionRecord(
                content_hash=f"h{i}", captioner="fake", model_id="m", task="caption", text=f"photo {i}", vector=vecs[i]
            )
            for i in rows
        ],
    )


def test_store_switches_layout_at_the_boundary_only(small_sizes: None, tmp_path: Path) -> None:
    vecs = clustered(700)
    home = tmp_path / "idx"
    with Store.open(home) as store:
        store.bind_embedder("e", DIM)
        store.ensure_active_captioner("fake", "m")
        _write(store, range(0, 250), vecs)
        flat = store.vector_index()
        assert flat.spec.kind == "flat"
        _write(store, range(250, 290), vecs)
        assert store.vector_index() is flat  # applied in place
        _write(store, range(290, 400), vecs)
        ivf = store.vector_index()
        assert ivf.spec.kind == "ivf-sq8" and len(ivf) == 400 and ivf.spec.trained_on == 400
        _write(store, range(400, 700), vecs)
        store.remove_paths([f"/p/{i}.jpg" for i in range(0, 50)])
        assert store.vector_index() is ivf and len(ivf) == 650  # no retraining for adds and removes
        queries = clustered(8, seed=11)
        before = [ivf.search(q, 5) for q in queries]
    _, header = VectorIndex.load(home / VECTORS_NAME)
    assert header.spec == ivf.spec and header.count == 650

    with Store.open(home) as store:
        assert [store.vector_index().search(q, 5) for q in queries] == before
    # Lost cache: rebuilt from SQLite with a layout for today's size, the
    # same index as one built from those vectors in memory.
    (home / VECTORS_NAME).unlink()
    with Store.open(home) as store:
        rebuilt = store.vector_index()
        assert rebuilt.spec == vx.IndexSpec.for_size(650)
        ids = np.arange(51, 701, dtype=np.int64)  # caption ids start at 1
        assert set(rebuilt.ids().tolist()) == set(ids.tolist())
        in_memory = VectorIndex.build(DIM, ids, vecs[ids - 1])
        assert [rebuilt.search(q, 5) for q in queries] == [in_memory.search(q, 5) for q in queries]


@pytest.mark.parametrize("n", [200, 800], ids=["flat", "ivf-sq8"])
def test_a_mapped_load_searches_like_a_copied_one_and_refuses_writes(small_sizes: None, tmp_path: Path, n: int) -> None:
    """A read-only store reads the vectors from the file, memory-mapped: same hits, same
    vectors, and a write refused with an error rather than a crash on the read-only mapping."""
    vecs = clustered(n)
    ids = np.arange(n, dtype=np.int64) + 7
    path = tmp_path / VECTORS_NAME
    VectorIndex.build(DIM, ids, vecs).save(path, vx.IndexHeader(generation=1, count=n, dim=DIM, embedder="e"))
    copied, _ = VectorIndex.load(path)
    mapped, header = VectorIndex.load(path, mapped=True)
    assert header.count == n and mapped.spec == copied.spec
    for q in clustered(10, seed=3):
        assert mapped.search(q, 5) == copied.search(q, 5)
    np.testing.assert_array_equal(mapped.vectors(ids[:20]), copied.vectors(ids[:20]))
    with pytest.raises(RuntimeError, match="read-only"):
        mapped.add(ids[:1] + 10_000, vecs[:1])
    with pytest.raises(RuntimeError, match="read-only"):
        mapped.remove(ids[:1])
    assert mapped.search(vecs[0], 1)[0][0] == ids[0]


def test_a_read_only_store_maps_its_vectors_and_a_writer_copies_them(tmp_path: Path) -> None:
    vecs = clustered(50)
    home = tmp_path / "idx"
    with Store.open(home) as store:
        store.bind_embedder("e", DIM)
        store.ensure_active_captioner("fake", "m")
        _write(store, range(0, 50), vecs)
        assert store.vector_index()._mapping is None
    with Store.open(home) as store:
        assert store.vector_index()._mapping is None  # it applies its own writes in place
    with Store.open(home, read_only=True) as store:
        vi = store.vector_index()
        assert vi._mapping is not None
        assert vi.search(vecs[7], 1)[0][0] == 8  # caption ids start at 1
