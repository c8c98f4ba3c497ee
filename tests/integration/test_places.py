"""Places and cameras from EXIF (issue 19): GPS named offline as city, region
and country at index time, searched as a keyword field, filtered with
``--place``/``--camera`` keeping the top k exact, and filled in for an index
made before places existed without captioning anything again.

The photos are all mostly red, so the fake captioner words them alike: their
place (or camera) is the only thing that can tell them apart.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from PIL.TiffImagePlugin import IFDRational
from support.cli import Run, index_json
from support.gps_photos import LISBON, MID_OCEAN, TOKYO, dms, gps_ifd, write_photo
from support.old_schema import downgrade_to_version_7

from picscribe.search import Retriever, SearchFilters
from picscribe.search.fusion import FusionWeights
from picscribe.store import DB_NAME, SCHEMA_VERSION, CaptionRecord, ImageRecord, PhotoDetails, Place, Store

PLAIN_PHOTOS = 6


@pytest.fixture
def trip(tmp_path: Path) -> Path:
    """Lisbon on a Nikon, Tokyo on a Canon, one at sea, two with broken GPS, and plain photos."""
    folder = tmp_path / "trip"
    folder.mkdir()
    write_photo(folder / "lisbon.jpg", gps=gps_ifd(*LISBON), make="NIKON CORPORATION", model="NIKON D750", spot=1)
    write_photo(folder / "tokyo.jpg", gps=gps_ifd(*TOKYO), make="Canon", model="Canon EOS R5", spot=2)
    write_photo(folder / "ocean.jpg", gps=gps_ifd(*MID_OCEAN), spot=3)
    write_photo(folder / "bad-latitude.jpg", gps={1: "N", 2: (123.0, 0.0, 0.0), 3: "W", 4: dms(9.1)}, spot=4)
    zero = {1: "N", 2: (IFDRational(38, 0), IFDRational(43, 0), IFDRational(0, 0)), 3: "W", 4: dms(9.1)}
    write_photo(folder / "bad-rationals.jpg", gps=zero, spot=5)
    for i in range(PLAIN_PHOTOS):
        write_photo(folder / f"plain-{i}.jpg", spot=6 + i)
    return folder


def _search(run: Run, *args: str) -> list[dict]:
    result = run("search", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _names(hits: list[dict]) -> list[str]:
    return [Path(h["path"]).name for h in hits]


def test_gps_becomes_a_place_and_broken_gps_is_a_skip_not_a_failure(run: Run, trip: Path) -> None:
    code, report = index_json(run, str(trip))
    assert code == 0, report
    assert report["failures"] == [] and report["captioned"] == 5 + PLAIN_PHOTOS
    skipped = {Path(s["path"]).name: s["reason"] for s in report["gps_skipped"]}
    assert set(skipped) == {"bad-latitude.jpg", "bad-rationals.jpg"}
    assert "latitude 123 is beyond ±90" in skipped["bad-latitude.jpg"]
    assert "malformed number" in skipped["bad-rationals.jpg"]
    assert report["details_read"] == 5 + PLAIN_PHOTOS

    hits = {Path(h["path"]).name: h for h in _search(run, "red picture", "-k", "20")}
    assert len(hits) == 5 + PLAIN_PHOTOS  # the broken-GPS photos are searchable like the rest
    assert hits["lisbon.jpg"]["place"] == {
        "city": "Lisbon",
        "region": "Lisbon",
        "country": "Portugal",
        "country_code": "PT",
    }
    assert hits["lisbon.jpg"]["camera"] == "Nikon D750"
    assert hits["tokyo.jpg"]["place"] == {"city": "Tokyo", "region": "Tokyo", "country": "Japan", "country_code": "JP"}
    assert hits["tokyo.jpg"]["camera"] == "Canon EOS R5"
    # At sea no town is near: no place, rather than an island 1,000 km away.
    for name in ("ocean.jpg", "bad-latitude.jpg", "bad-rationals.jpg", "plain-0.jpg"):
        assert hits[name]["place"] is None, name
        assert hits[name]["camera"] is None, name


def test_place_filter_and_place_words_find_the_gps_tagged_photo(run: Run, trip: Path) -> None:
    assert index_json(run, str(trip))[0] == 0
    for name in ("Lisbon", "lisbon", "Portugal", "PT", "pt"):
        assert _names(_search(run, "red picture", "--place", name)) == ["lisbon.jpg"], name
    assert _names(_search(run, "red picture", "--place", "Japan")) == ["tokyo.jpg"]
    # Whole names only: a prefix is not a place.
    assert _search(run, "red picture", "--place", "Lisb") == []
    # The captions are alike (so are their vectors); the place field is what finds it.
    for query, name in [("photos taken in Portugal", "lisbon.jpg"), ("a red picture in Tokyo", "tokyo.jpg")]:
        first, second = _search(run, query, "-k", "2")
        assert Path(first["path"]).name == name, query
        # Words in every caption ("red", "picture") count next to nothing in BM25.
        assert first["keyword"] == 1.0 and second["keyword"] < 0.01
        assert first["similarity"] == pytest.approx(second["similarity"], abs=1e-6)


def test_camera_filter_matches_make_or_model(run: Run, trip: Path) -> None:
    assert index_json(run, str(trip))[0] == 0
    assert _names(_search(run, "red picture", "--camera", "nikon")) == ["lisbon.jpg"]
    assert _names(_search(run, "red picture", "--camera", "Nikon D750")) == ["lisbon.jpg"]
    assert _names(_search(run, "red picture", "--camera", "NIKON CORPORATION")) == ["lisbon.jpg"]
    assert _names(_search(run, "red picture", "--camera", "eos r")) == ["tokyo.jpg"]
    assert _search(run, "red picture", "--camera", "leica") == []
    assert _search(run, "red picture", "--camera", "nikon", "--place", "Japan") == []


def test_an_older_index_gets_places_on_the_next_index_without_captioning_again(
    run: Run, trip: Path, home: Path
) -> None:
    assert index_json(run, str(trip))[0] == 0
    db = home / DB_NAME
    downgrade_to_version_7(db)

    def captions() -> list[tuple]:
        with closing(sqlite3.connect(db)) as conn:
            return conn.execute("SELECT id, content_hash, task, text, created_at FROM captions ORDER BY id").fetchall()

    before = captions()
    assert _search(run, "red picture", "--place", "Lisbon") == []  # migrated; EXIF not read yet
    code, report = index_json(run, str(trip))
    assert code == 0, report
    assert report["captioned"] == 0 and report["unchanged"] == 5 + PLAIN_PHOTOS
    assert report["details_read"] == 5 + PLAIN_PHOTOS
    assert captions() == before  # same ids, same texts, same times: nothing captioned again
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert _names(_search(run, "red picture", "--place", "Lisbon")) == ["lisbon.jpg"]
    assert _names(_search(run, "red picture", "--camera", "canon")) == ["tokyo.jpg"]
    assert _names(_search(run, "photos taken in Portugal", "-k", "1")) == ["lisbon.jpg"]
    # Read once: a later run reads no EXIF again.
    assert index_json(run, str(trip))[1]["details_read"] == 0


def test_a_file_indexed_at_a_new_path_keeps_its_place(run: Run, trip: Path) -> None:
    assert index_json(run, str(trip))[0] == 0
    (trip / "lisbon.jpg").rename(trip / "moved.jpg")
    code, report = index_json(run, str(trip))
    assert code == 0 and report["captioned"] == 0 and report["details_read"] == 0
    assert _names(_search(run, "red picture", "--place", "Lisbon")) == ["moved.jpg"]


# -- top-k exactness, on a store with chosen vectors (no model) ---------------------

DIM = 16
N = 400


class _ChosenVector:
    """Embeds every query as the vector the test sets."""

    name, dim = "test-embedder", DIM

    def __init__(self) -> None:
        self.next = np.zeros(DIM, dtype=np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.next] * len(texts))


def _details(i: int) -> PhotoDetails:
    """1 in 20 in Lisbon, 1 in 20 in Porto, 1 in 10 in Tokyo; half on a Nikon."""
    place = {0: Place("Lisbon", "Lisbon", "Portugal", "PT"), 1: Place("Porto", "Porto", "Portugal", "PT")}.get(i % 20)
    if place is None and i % 10 == 2:
        place = Place("Tokyo", "Tokyo", "Japan", "JP")
    if i % 2:
        return PhotoDetails(
            f"h{i}", place=place, camera_make="Canon", camera_model="Canon EOS R5", camera="Canon EOS R5"
        )
    return PhotoDetails(f"h{i}", place=place, camera_make="NIKON CORPORATION", camera_model="D750", camera="Nikon D750")


@pytest.fixture
def placed(tmp_path: Path) -> Iterator[tuple[Store, dict[str, np.ndarray]]]:
    rng = np.random.default_rng(7)
    store = Store.open(tmp_path / "lib")
    store.bind_embedder("test-embedder", DIM)
    store.ensure_active_captioner("fake", "fake-1")
    vectors: dict[str, np.ndarray] = {}
    images, captions = [], []
    for i in range(N):
        v = rng.normal(size=DIM).astype(np.float32)
        vectors[f"/lib/{i}.jpg"] = v / np.linalg.norm(v)
        images.append(ImageRecord(f"/lib/{i}.jpg", 1, i, f"h{i}", 4, 3, "JPEG", None))
        captions.append(CaptionRecord(f"h{i}", "fake", "fake-1", "caption", "a photo", vectors[f"/lib/{i}.jpg"]))
    store.write_batch(images=images, captions=captions)
    store.write_photo_details([_details(i) for i in range(N)])
    yield store, vectors
    store.close()


@pytest.mark.parametrize(
    ("filters", "allowed"),
    [
        (SearchFilters(place="Lisbon"), lambda i: i % 20 == 0),  # 5%: listed in SQL
        (SearchFilters(place="pt"), lambda i: i % 20 in (0, 1)),
        (SearchFilters(place="JAPAN"), lambda i: i % 10 == 2 and i % 20 not in (0, 1)),
        (SearchFilters(camera="nikon"), lambda i: i % 2 == 0),  # 50%: checked on candidates
        (SearchFilters(camera="eos r5", place="Portugal"), lambda i: i % 2 == 1 and i % 20 in (0, 1)),
    ],
)
def test_place_and_camera_filters_keep_the_exact_top_k(
    placed: tuple[Store, dict[str, np.ndarray]], filters: SearchFilters, allowed
) -> None:
    store, vectors = placed
    embedder = _ChosenVector()
    retriever = Retriever(store, embedder, FusionWeights(dense=1.0, keyword=0.0, depth_factor=1, min_depth=10))
    rng = np.random.default_rng(11)
    passing = {f"/lib/{i}.jpg" for i in range(N) if allowed(i)}
    for _ in range(4):
        # Aimed at a photo the filter keeps out: the unfiltered top is mostly photos that do not pass.
        outside = rng.choice(sorted(set(vectors) - passing))
        embedder.next = vectors[outside]
        unfiltered = [h.path for h in retriever.search("zz", limit=10)]
        assert outside in unfiltered
        got = [h.path for h in retriever.search("zz", limit=10, filters=filters)]
        expected = sorted(passing, key=lambda p: -float(vectors[p] @ embedder.next))[:10]
        assert got == expected


def test_details_of_content_no_file_has_any_more_go_with_it(placed: tuple[Store, dict[str, np.ndarray]]) -> None:
    store, _ = placed
    assert store.photo_details(["h0"])["h0"].place == Place("Lisbon", "Lisbon", "Portugal", "PT")
    store.remove_paths(["/lib/0.jpg"])
    assert store.photo_details(["h0"]) == {}
    assert len(store.allowed_caption_ids(SearchFilters(place="Lisbon"))) == N // 20 - 1


def test_library_search_and_the_ui_filter_and_detail_view_use_the_place(run: Run, trip: Path, home: Path) -> None:
    from picscribe import Library
    from picscribe.ui.detail import detail_view
    from picscribe.ui.filters import build_filters

    assert index_json(run, str(trip))[0] == 0
    with Library.open(home) as lib:
        hits = lib.search("red picture", filters=SearchFilters(place="portugal", camera="D750"))
        assert [Path(h.path).name for h in hits] == ["lisbon.jpg"]
        assert hits[0].place == Place("Lisbon", "Lisbon", "Portugal", "PT") and hits[0].camera == "Nikon D750"
        # The sidebar's empty boxes filter nothing; filled, they are the same filters.
        assert build_filters(place="  ", camera="") == SearchFilters()
        sidebar = build_filters(place=" Japan ", camera="canon")
        assert sidebar == SearchFilters(place="Japan", camera="canon")
        assert [Path(h.path).name for h in lib.search("red picture", filters=sidebar)] == ["tokyo.jpg"]
        view = detail_view(lib.store, str(trip / "lisbon.jpg"))
        assert view is not None and view.place == "Lisbon, Portugal"
        ocean = detail_view(lib.store, str(trip / "ocean.jpg"))
        assert ocean is not None and ocean.place is None


def test_export_rows_carry_place_and_camera(run: Run, trip: Path, tmp_path: Path) -> None:
    assert index_json(run, str(trip))[0] == 0
    out = tmp_path / "rows.jsonl"
    assert run("export", "--format", "jsonl", "--out", str(out)).exit_code == 0
    rows = {Path(r["path"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    lisbon = rows["lisbon.jpg"]
    assert (lisbon["city"], lisbon["region"], lisbon["country"], lisbon["country_code"]) == (
        "Lisbon",
        "Lisbon",
        "Portugal",
        "PT",
    )
    assert lisbon["camera"] == "Nikon D750"
    assert rows["ocean.jpg"]["city"] is None and rows["plain-0.jpg"]["camera"] is None


def test_a_watchers_update_reads_the_place_of_the_files_it_was_given(run: Run, trip: Path, home: Path) -> None:
    from picscribe import Library

    assert index_json(run, str(trip))[0] == 0
    porto = write_photo(trip / "porto.jpg", gps=gps_ifd(41.1496, -8.6110), spot=40)
    with Library.open(home, captioner="fake") as lib:
        report = lib.update([str(porto)])
        assert report.captioned == 1 and report.details_read == 1
        hits = lib.search("red picture", filters=SearchFilters(place="Porto"))
        assert [Path(h.path).name for h in hits] == ["porto.jpg"]
