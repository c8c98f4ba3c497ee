"""The UI's plain modules: path safety, thumbnails, EXIF, the human caption edit."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from support.cli import Run, index_json

from picscribe.indexer.watch import WatcherState
from picscribe.search import Retriever, SentenceTransformerEmbedder
from picscribe.store import Store, StoreError
from picscribe.ui.editing import save_human_caption
from picscribe.ui.exif import read_exif
from picscribe.ui.pictures import picture
from picscribe.ui.safe_paths import resolved_roots, servable
from picscribe.ui.services import Services
from picscribe.ui.settings import UiSettings
from picscribe.ui.status_view import describe_watcher
from picscribe.ui.thumbnails import ThumbnailCache


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    for folder, name, rgb in [("a", "red.png", (200, 40, 40)), ("b", "blue.png", (40, 70, 200))]:
        (root / folder).mkdir(parents=True)
        Image.new("RGB", (64, 48), rgb).save(root / folder / name)
    return root


@pytest.fixture
def services(run: Run, library: Path, home: Path) -> Iterator[Services]:
    code, _ = index_json(run, str(library))
    assert code == 0
    svc = Services.open(UiSettings.from_env())
    yield svc
    svc.close()


# -- path safety ---------------------------------------------------------------


def test_roots_are_resolved_and_outermost(tmp_path: Path) -> None:
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    roots = [f"{tmp_path}/link/sub", f"{tmp_path}/q", f"{tmp_path}/real"]
    assert resolved_roots(roots) == (f"{tmp_path}/q", f"{tmp_path}/real")


def test_an_indexed_image_is_served(services: Services, library: Path) -> None:
    red = str(library / "a" / "red.png")
    assert services.servable(red) == red


@pytest.mark.parametrize(
    "crafted",
    [
        "{library}/a/../b/blue.png",  # .. even when it lands on an indexed file
        "{library}/a/./red.png",
        "{library}//a/red.png",
        "a/red.png",  # relative
        "/etc/passwd",  # absolute, outside every root
        "{library}/a/red.png\x00.jpg",
        "{library}/a/notes.txt",  # inside a root but not an indexed image
        "",
        None,
        ["{library}/a/red.png"],
    ],
)
def test_crafted_paths_get_nothing(services: Services, library: Path, crafted: object) -> None:
    (library / "a" / "notes.txt").write_text("secret")
    if isinstance(crafted, str):
        crafted = crafted.format(library=library)
    assert services.servable(crafted) is None


def test_a_symlink_out_of_a_root_gets_nothing(run: Run, library: Path, tmp_path: Path, home: Path) -> None:
    outside = tmp_path / "private"
    outside.mkdir()
    Image.new("RGB", (64, 48), (40, 160, 60)).save(outside / "secret.png")
    (library / "a" / "link.png").symlink_to(outside / "secret.png")
    index_json(run, str(library))
    with Store.open(home, create=False) as store:
        link = str(library / "a" / "link.png")
        paths = store.ok_paths()
        assert link in paths  # the scanner followed it: only the UI's check stands in the way
        roots = resolved_roots(store.library_roots())
        assert servable(link, roots, set(paths)) is None
        assert servable(str(library / "a" / "red.png"), roots, set(paths)) is not None


# -- thumbnails ----------------------------------------------------------------


def test_thumbnails_are_made_once_and_follow_edits(tmp_path: Path) -> None:
    photo = tmp_path / "big.jpg"
    Image.new("RGB", (2000, 1000), (10, 120, 200)).save(photo)
    cache = ThumbnailCache(tmp_path / "thumbs", edge=200)
    first = cache.get(str(photo))
    assert first is not None and _size(first) == (200, 100)
    assert cache.get(str(photo)) == first
    assert ThumbnailCache(tmp_path / "thumbs", edge=200).get(str(photo)) == first  # survives a restart
    assert cache.made == 1
    Image.new("RGB", (1000, 1000), (200, 20, 20)).save(photo)
    os.utime(photo, ns=(1, 1))
    second = cache.get(str(photo))
    assert second is not None and second != first and _size(second) == (200, 200) and cache.made == 2


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as img:
        return img.size


def test_a_broken_photo_has_no_thumbnail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really")
    cache = ThumbnailCache(tmp_path / "thumbs")
    assert cache.get(str(bad)) is None and cache.get(str(tmp_path / "gone.jpg")) is None


def test_a_decoder_failure_of_any_kind_shows_as_no_picture(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Surprised(ThumbnailCache):
        """A decoder plugin raising what nobody listed (Pillow has raised struct.error, EOFError, IndexError)."""

        def get(self, path: str) -> Path | None:
            raise struct.error(f"unpack requires a buffer of 4 bytes ({path})")

    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (32, 32)).save(photo)
    assert picture(Surprised(tmp_path / "thumbs"), str(photo)) is None
    assert "unpack requires a buffer" in caplog.text  # the server's log keeps the cause; the page does not
    assert picture(ThumbnailCache(tmp_path / "thumbs"), str(photo)) is not None


# -- EXIF ------------------------------------------------------------------------


def test_exif_camera_time_and_place(tmp_path: Path) -> None:
    photo = tmp_path / "trip.jpg"
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS R5"
    exif.get_ifd(0x8769)[0x9003] = "2023:08:14 17:30:05"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 29.6)
    gps[3], gps[4] = "W", (2.0, 17.0, 40.2)
    Image.new("RGB", (32, 32)).save(photo, exif=exif)
    info = read_exif(str(photo))
    assert info.camera == "Canon EOS R5"
    assert info.taken == "2023-08-14 17:30:05"
    assert info.latitude == pytest.approx(48.858222, abs=1e-5)
    assert info.longitude == pytest.approx(-2.294500, abs=1e-5)
    assert info.place == "48.85822, -2.29450"


def test_no_exif_is_empty(tmp_path: Path) -> None:
    photo = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(photo)
    info = read_exif(str(photo))
    assert (info.taken, info.camera, info.place) == (None, None, None)


# -- the human caption edit ---------------------------------------------------------


def test_a_human_caption_is_searched_and_survives_reindexing(
    run: Run, services: Services, library: Path, home: Path
) -> None:
    red = str(library / "a" / "red.png")
    embedder = services.retriever.embedder
    save_human_caption(services.store, embedder, red, "my grandmother's kitchen table")
    hits = services.retriever.search("grandmother kitchen", limit=1)
    assert hits[0].path == red and hits[0].human and hits[0].captioner == "human"
    services.close()

    # Neither a re-run, nor a forced re-caption with another model, replaces it.
    assert run("index", str(library), "--captioner", "fake").exit_code == 0
    assert run("reindex", "--captioner", "fake:v2").exit_code == 0
    assert isinstance(embedder, SentenceTransformerEmbedder)
    with Store.open(home, create=False) as store:
        assert store.embedder_name is not None
        retriever = Retriever(store, SentenceTransformerEmbedder(store.embedder_name, cache_dir=embedder._cache_dir))
        detail = store.image_detail(red)
        assert detail is not None and detail.current is not None
        assert detail.current.text == "my grandmother's kitchen table" and detail.current.human
        assert {c.model_id for c in detail.captions} >= {"fake-v1", "fake-v2", "ui-edit"}
        assert retriever.search("grandmother kitchen", limit=1)[0].path == red
        # The tags of the caption it replaced stay, so filters still find it.
        assert "red" in detail.current.tags


def test_an_empty_caption_or_unknown_path_is_refused(services: Services, library: Path) -> None:
    embedder = services.retriever.embedder
    with pytest.raises(StoreError, match="empty"):
        save_human_caption(services.store, embedder, str(library / "a" / "red.png"), "   ")
    with pytest.raises(StoreError, match="not in the index"):
        save_human_caption(services.store, embedder, str(library / "nope.png"), "text")


# -- watcher line ----------------------------------------------------------------------


def test_watcher_line_describes_a_running_watcher() -> None:
    state = WatcherState(
        running=True,
        pid=4242,
        roots=("/photos",),
        queue_length=3,
        started_at="2026-01-02T03:04:05+00:00",
        last_event_at="2026-01-02T03:05:00+00:00",
        last_error="permission denied: /photos/x.jpg",
    )
    line = describe_watcher(state)
    assert line.available and line.running and line.roots == ("/photos",)
    assert line.text == (
        "watcher: running (pid 4242) since 2026-01-02T03:04:05+00:00, 3 queued,"
        " last change seen 2026-01-02T03:05:00+00:00"
    )
    assert line.last_error == "permission denied: /photos/x.jpg"
    assert describe_watcher(None).text == "watcher: never run"


def test_exif_camera_make_is_said_once_and_exposure_is_shown(tmp_path: Path) -> None:
    photo = tmp_path / "nikon.jpg"
    exif = Image.Exif()
    exif[0x010F] = "NIKON CORPORATION"
    exif[0x0110] = "NIKON D750"
    sub = exif.get_ifd(0x8769)
    sub[0x829D] = IFDRational(18, 10)  # f/1.8
    sub[0x829A] = IFDRational(1, 250)  # 1/250 s
    sub[0x8827] = 400
    sub[0x920A] = IFDRational(50, 1)
    sub[0xA434] = "AF-S NIKKOR 50mm f/1.8G"
    Image.new("RGB", (32, 32)).save(photo, exif=exif)
    info = read_exif(str(photo))
    assert info.camera == "Nikon D750"
    assert info.lens == "AF-S NIKKOR 50mm f/1.8G"
    assert info.exposure == "f/1.8 · 1/250 s · ISO 400 · 50 mm"


def test_tag_chips_never_break_inside_a_label() -> None:
    from picscribe.ui.detail import tag_chips

    chips = tag_chips(["dining table", "dog", "it`s", " "])
    assert chips == "`dining\u00a0table` `dog` `it's`"
    # The only places a line may wrap are the spaces between chips.
    assert [chip.strip("`") for chip in chips.split(" ")] == ["dining\u00a0table", "dog", "it's"]
