"""The search view (a cold ``picscribe search`` without SQLAlchemy) answers
exactly as the Store does, and hands over to the Store whenever it cannot:
an index at an older schema, a FAISS cache that is missing or stale."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import Run, index_json
from support.gps_photos import LISBON, TOKYO, gps_ifd, write_photo
from support.old_schema import downgrade_to_version_7

from picscribe import Library
from picscribe.search import Retriever, SearchFilters, embedder_named
from picscribe.store import DB_NAME, VECTORS_NAME, CaptionRecord, SearchView, Store, TextEmbedder

#: 2021-06-15 12:00 UTC, the file time of the photos in folder "old" (they have no EXIF time).
_JUNE_2021 = 1623758400


@pytest.fixture
def library(run: Run, tmp_path: Path, home: Path, model_cache: Path) -> Path:
    """Two folders of photos captioned by the fake captioner: places and cameras
    from GPS and EXIF, an exact copy (search folds it into its original's hit),
    old file times, and two captions with detected objects and text read."""
    root = tmp_path / "lib"
    new, old = root / "new", root / "old"
    new.mkdir(parents=True)
    old.mkdir()
    write_photo(new / "lisbon.jpg", gps=gps_ifd(*LISBON), make="NIKON CORPORATION", model="NIKON D750", spot=1)
    write_photo(new / "tokyo.jpg", gps=gps_ifd(*TOKYO), make="Canon", model="Canon EOS R5", spot=2)
    write_photo(new / "blue.jpg", spot=3, rgb=(40, 60, 200))
    write_photo(new / "green.jpg", spot=4, rgb=(40, 180, 60))
    for i, rgb in enumerate([(200, 40, 40), (40, 60, 200), (230, 210, 40)]):
        path = write_photo(old / f"old-{i}.jpg", spot=10 + i, rgb=rgb)
        os.utime(path, (_JUNE_2021, _JUNE_2021))
    shutil.copy2(new / "blue.jpg", old / "blue-copy.jpg")
    assert index_json(run, str(root))[0] == 0
    with Store.open(home, create=False) as store:
        embedder = _embedder(store, model_cache)
        for path, objects, ocr in [
            (new / "green.jpg", (("dog", 1, 0.9), ("person", 2, 0.8)), ""),
            (old / "old-2.jpg", (("dog", 2, 0.7),), "OPEN 24 HOURS"),
        ]:
            detail = store.image_detail(str(path))
            assert detail is not None and detail.current is not None and detail.content_hash
            text = detail.current.text
            record = CaptionRecord(
                content_hash=detail.content_hash,
                captioner=detail.current.captioner,
                model_id=detail.current.model_id,  # the same key: it replaces the searched caption
                task="caption",
                text=text,
                vector=embedder.embed([text])[0],
                ocr_text=ocr,
                tags=(("dog", 0.9),),
                objects=objects,
            )
            store.write_batch(captions=[record])
        store.vector_index()  # the FAISS cache follows the new captions, and is saved on close
    return root


def _embedder(store: Store | SearchView, model_cache: Path) -> TextEmbedder:
    return embedder_named(store.embedder_name or "", cache_dir=model_cache / "models")


@pytest.fixture
def both(library: Path, home: Path, model_cache: Path) -> Iterator[tuple[Retriever, Retriever]]:
    """A retriever over the search view and one over the read-only Store, sharing one embedder."""
    view = SearchView.open(home)
    assert view is not None, "the view should serve a freshly indexed library"
    with view, Store.open(home, read_only=True) as store:
        embedder = _embedder(store, model_cache)
        yield Retriever(view, embedder), Retriever(store, embedder)


def _filters(root: Path) -> list[SearchFilters]:
    return [
        SearchFilters(),
        SearchFilters(folder=str(root / "old")),
        SearchFilters(folder=str(root / "new"), camera="nikon"),
        SearchFilters(date_from="2021-06-01 00:00:00", date_to="2021-06-30 23:59:59"),
        SearchFilters(date_from="2022-01-01 00:00:00"),
        SearchFilters(objects=("dog",)),
        SearchFilters(objects=("dog", "person")),
        SearchFilters(has_text=True),
        SearchFilters(captioner="fake", model="nobody"),
        SearchFilters(captioner="fake"),
        SearchFilters(place="Lisbon"),
        SearchFilters(place="japan"),
        SearchFilters(camera="canon"),
        SearchFilters(folder=str(root / "nowhere")),
    ]


QUERIES = ("a blue picture", "red", "dog", '"open 24 hours"', "lisbon", "a picture of a sunset over the sea")


def test_the_view_gives_the_stores_hits_for_every_filter_kind(both: tuple[Retriever, Retriever], library: Path) -> None:
    by_view, by_store = both
    nonempty = 0
    for filters in _filters(library):
        for query in QUERIES:
            for collapse in (True, False):
                got = by_view.search(query, limit=5, filters=filters, collapse=collapse)
                want = by_store.search(query, limit=5, filters=filters, collapse=collapse)
                # Hits compare whole: path, every score, caption, tags, objects, place, camera, copies, matched.
                assert got == want, (query, filters, collapse)
                nonempty += bool(want)
    assert nonempty > len(QUERIES) * 8  # most filters let something through: the comparison is not of empties
    # The folded copy, the place and the objects are there to compare.
    (blue,) = [h for h in by_store.search("a blue picture", limit=1) if h.copies]
    assert {Path(blue.path).name, *(Path(c).name for c in blue.copies)} == {"blue.jpg", "blue-copy.jpg"}
    lisbon = by_store.search("a picture", limit=5, filters=SearchFilters(place="Lisbon"))
    assert [Path(h.path).name for h in lisbon] == ["lisbon.jpg"] and lisbon[0].camera == "Nikon D750"
    dogs = by_view.search("dog", limit=5, filters=SearchFilters(objects=("dog",)))
    assert {Path(h.path).name for h in dogs} == {"green.jpg", "old-2.jpg"} and dogs[0].matched.tags == ("dog",)


def test_the_view_gives_the_stores_similar_photos(both: tuple[Retriever, Retriever], library: Path) -> None:
    by_view, by_store = both
    for filters in _filters(library)[:6]:
        for name in ("new/blue.jpg", "old/old-0.jpg", "new/lisbon.jpg"):
            path = str(library / name)
            assert by_view.similar(path, limit=4, filters=filters) == by_store.similar(path, limit=4, filters=filters)
    assert by_view.similar(str(library / "new/blue.jpg"), limit=3)
    assert by_view.similar(str(library / "not-indexed.jpg")) == []


def test_the_view_lists_object_labels_as_the_store_does(library: Path, home: Path) -> None:
    view = SearchView.open(home)
    assert view is not None
    with view, Store.open(home, read_only=True) as store:
        assert view.object_labels() == store.object_labels() == [("dog", 2), ("person", 1)]


def test_the_view_follows_a_write_made_after_it_opened(run: Run, library: Path, home: Path, model_cache: Path) -> None:
    view = SearchView.open(home)
    assert view is not None
    with view:
        before = len(view.vector_index())
        write_photo(library / "new" / "yellow.jpg", spot=30, rgb=(230, 210, 40))
        assert index_json(run, str(library))[0] == 0
        assert len(view.vector_index()) == before + 1
        hits = Retriever(view, _embedder(view, model_cache)).search("yellow", limit=10, collapse=False)
        assert "yellow.jpg" in {Path(h.path).name for h in hits}


def _cli_hits(run: Run, *args: str) -> list[dict]:
    result = run("search", *args, "--json", "-k", "5")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_missing_or_stale_vectors_file_is_rebuilt_as_the_store_does(run: Run, library: Path, home: Path) -> None:
    """Every ``picscribe index`` leaves the FAISS file behind SQLite (the indexer never
    loads the index): the first search rebuilds it from SQLite with the Store's own code,
    and saves it, without ever writing SQLite."""
    db, vectors = home / DB_NAME, home / VECTORS_NAME
    want = _cli_hits(run, "a blue picture", "--folder", str(library / "old"))
    assert want

    # Missing.
    saved = vectors.read_bytes()
    vectors.unlink()
    sqlite_before = _digest(db)
    with Library.open(read_only=True) as lib:
        got = lib.search("a blue picture", limit=5, filters=SearchFilters(folder=str(library / "old")))
        assert lib._view is not None and lib._store is None  # no fall back to the Store
    assert [h.to_json() for h in got] == want
    assert _digest(db) == sqlite_before  # SQLite untouched
    assert not any(Path(f"{db}{s}").exists() for s in ("-wal", "-shm"))  # and its home left as found
    rebuilt = vectors.read_bytes()  # saved for the next search, as a read-only Store saves it
    assert _cli_hits(run, "a blue picture", "--folder", str(library / "old")) == want
    assert vectors.read_bytes() == rebuilt  # trusted as it is: nothing rebuilt this time

    # Stale: the file of an earlier generation, without the photo indexed since.
    write_photo(library / "old" / "purple.jpg", spot=31, rgb=(150, 40, 200))
    assert index_json(run, str(library))[0] == 0
    vectors.write_bytes(saved)
    sqlite_before = _digest(db)
    view = SearchView.open(home)
    assert view is not None
    with view, Store.open(home, read_only=True) as store:
        assert len(view.vector_index()) == len(store.vector_index()) == 8  # 7 pictures and the purple one
    found = _cli_hits(run, "a purple picture", "--folder", str(library / "old"))
    assert "purple.jpg" in {Path(h["path"]).name for h in found}
    assert _digest(db) == sqlite_before
    assert vectors.read_bytes() != saved


def test_an_index_at_an_older_schema_is_searched_through_the_store(run: Run, photos: Path, home: Path) -> None:
    assert index_json(run, str(photos))[0] == 0
    want = _cli_hits(run, "a red picture")
    assert want
    db = home / DB_NAME
    downgrade_to_version_7(db)
    downgraded = _digest(db)
    assert SearchView.open(home) is None
    assert _digest(db) == downgraded  # the view declined without touching it
    with Library.open(read_only=True) as lib:
        assert [h.path for h in lib.search("a red picture", limit=5)] == [h["path"] for h in want]
        assert lib._view is None and lib._store is not None  # served by the Store (which migrates, as it always has)
    assert _cli_hits(run, "a red picture") == want


def test_a_read_only_library_searches_through_the_view(run: Run, photos: Path, home: Path) -> None:
    assert index_json(run, str(photos))[0] == 0
    db = home / DB_NAME
    before = _digest(db)
    with Library.open(read_only=True) as lib:
        hits = lib.search("a red picture", limit=3)
        assert len(hits) == 3
        assert lib.similar(hits[0].path, limit=2)
        assert lib._view is not None and lib._store is None
    assert _digest(db) == before
    assert not any(Path(f"{db}{s}").exists() for s in ("-wal", "-shm"))
    with Store.open(home, read_only=True) as store:
        assert int(store.meta("generation") or 0) > 0
