"""Formats beyond Pillow's classic ones: AVIF (Pillow itself), HEIC (the
``heif`` extra) and camera RAW (the ``raw`` extra, through the preview the
camera embeds), each through the real CLI and the real index.

A missing extra is simulated by hiding its module (``sys.modules[name] =
None`` makes ``import name`` fail), so each test means the same thing
whether or not the extra is installed here.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from PIL import Image, features
from support.cli import Run, index_json
from support.dng import write_dng
from support.paths import SAMPLES

from picscribe.indexer.decode import DecodeError, load
from picscribe.indexer.scan import FileEntry, scan

HEIC_HINT = "HEIC needs `pip install 'picscribe[heif]'`"
RAW_HINT = "RAW files need `pip install 'picscribe[raw]'`"
# A HEIC's first bytes: an ftyp box with the brand "heic"; the sniffer keys on them.
HEIC_HEADER = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64


@pytest.fixture
def without_pillow_heif(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pillow_heif", None)


@pytest.fixture
def without_rawpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rawpy", None)


def _avif(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> Path:
    assert features.check("avif"), "this Pillow was built without AVIF"
    Image.new("RGB", size, colour).save(path, "AVIF")
    return path


def _hits(run: Run, query: str) -> list[dict]:
    # Every file, copies too: these tests ask which files were indexed.
    result = run("search", query, "--json", "-k", "100", "--no-collapse")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _failures(report: dict) -> list[tuple[str, str]]:
    return sorted((f["path"], f["error"]) for f in report["failures"])


# -- AVIF: Pillow's own decoder ---------------------------------------------------


def test_avif_is_indexed_by_pillow_without_pillow_heif(run: Run, tmp_path: Path, without_pillow_heif: None) -> None:
    avif = _avif(tmp_path / "sunset.avif", (220, 30, 30))
    code, report = index_json(run, str(tmp_path))
    assert code == 0 and report["failures"] == [], report
    [hit] = [h for h in _hits(run, "red picture") if h["path"] == str(avif)]
    assert "red" in hit["caption"], hit


def test_a_file_named_avif_that_is_not_one_fails_alone(run: Run, tmp_path: Path, without_pillow_heif: None) -> None:
    good = _avif(tmp_path / "good.avif", (30, 30, 220))
    fake = tmp_path / "notes.avif"
    fake.write_bytes(b"shopping list: eggs, milk\n" * 4)
    cut = tmp_path / "cut.avif"
    cut.write_bytes(_avif(tmp_path / "whole.avif", (30, 200, 30), (256, 256)).read_bytes()[:200])
    (tmp_path / "whole.avif").unlink()
    code, report = index_json(run, str(tmp_path))
    assert code == 1, report
    failures = dict(_failures(report))
    assert failures.keys() == {str(fake), str(cut)}
    assert failures[str(fake)] == "not an image, or an image format Pillow cannot read"
    assert failures[str(cut)], "a truncated AVIF says why"
    assert str(good) in [h["path"] for h in _hits(run, "blue picture")]


def test_an_avif_with_a_plain_heif_major_brand_is_still_avif(tmp_path: Path, without_pillow_heif: None) -> None:
    """Some writers put "mif1" first and "avif" among the compatible brands."""
    data = bytearray(_avif(tmp_path / "a.avif", (200, 200, 30)).read_bytes())
    assert data[4:12] == b"ftypavif"
    data[8:12] = b"mif1"
    assert b"avif" in data[16 : int.from_bytes(data[:4], "big")], "Pillow lists avif as a compatible brand"
    path = tmp_path / "mif1.avif"
    path.write_bytes(bytes(data))
    loaded = load(FileEntry(str(path), len(data), 0), set())
    assert loaded.format == "AVIF" and loaded.image is not None


# -- HEIC: the heif extra ------------------------------------------------------------


def test_heic_without_pillow_heif_names_the_extra_and_the_batch_goes_on(
    run: Run, tmp_path: Path, without_pillow_heif: None
) -> None:
    heic = tmp_path / "phone.heic"
    heic.write_bytes(HEIC_HEADER)
    avif = _avif(tmp_path / "other.avif", (220, 30, 30))
    code, report = index_json(run, str(tmp_path))
    assert code == 1
    assert _failures(report) == [(str(heic), HEIC_HINT)]
    assert str(avif) in [h["path"] for h in _hits(run, "picture")]

    # The human summary names the file and the cure too.
    human = run("index", str(tmp_path), "--captioner", "fake", "--retry-failed")
    assert human.exit_code == 1
    assert f"{heic}: {HEIC_HINT}" in human.stderr, human.output


# -- RAW: the raw extra, through the embedded preview ---------------------------------


def test_dng_is_indexed_through_its_embedded_preview(run: Run, tmp_path: Path) -> None:
    pytest.importorskip("rawpy")
    # The sensor data in this DNG is flat grey: a blue caption proves the preview was read.
    dng = write_dng(tmp_path / "IMG_0001.dng", Image.new("RGB", (80, 60), (30, 40, 220)))
    code, report = index_json(run, str(tmp_path))
    assert code == 0 and report["failures"] == [], report
    [hit] = [h for h in _hits(run, "blue picture") if h["path"] == str(dng)]
    assert "blue" in hit["caption"] and "landscape" in hit["caption"], hit


def test_a_raw_preview_obeys_the_pixel_limit(tmp_path: Path) -> None:
    pytest.importorskip("rawpy")
    dng = write_dng(tmp_path / "big.dng", Image.new("RGB", (200, 100), (30, 40, 220)))
    loaded = load(FileEntry(str(dng), dng.stat().st_size, 0), set())
    assert (loaded.format, loaded.width, loaded.height) == ("DNG", 200, 100)
    with pytest.raises(DecodeError, match="200x100 = 20,000 pixels, over the limit of 10,000"):
        load(FileEntry(str(dng), dng.stat().st_size, 0), set(), max_pixels=10_000)


def test_a_file_named_raw_that_is_not_one_fails_alone(run: Run, tmp_path: Path) -> None:
    pytest.importorskip("rawpy")
    fake = tmp_path / "notes.nef"
    fake.write_bytes(b"not a raw file\n" * 8)
    good = write_dng(tmp_path / "good.dng", Image.new("RGB", (80, 60), (30, 40, 220)))
    code, report = index_json(run, str(tmp_path))
    assert code == 1
    assert _failures(report) == [(str(fake), "not a RAW file, or a RAW format LibRaw cannot read")]
    assert str(good) in [h["path"] for h in _hits(run, "picture")]


def test_raw_without_rawpy_names_the_extra(run: Run, tmp_path: Path, without_rawpy: None) -> None:
    dng = write_dng(tmp_path / "IMG_0002.dng", Image.new("RGB", (80, 60), (30, 40, 220)))
    avif = _avif(tmp_path / "other.avif", (220, 30, 30))
    code, report = index_json(run, str(tmp_path))
    assert code == 1
    assert _failures(report) == [(str(dng), RAW_HINT)]
    assert str(avif) in [h["path"] for h in _hits(run, "picture")]


def test_a_raw_with_a_same_named_jpeg_beside_it_is_skipped(run: Run, tmp_path: Path) -> None:
    """rclip's rule: photo.CR2 + photo.jpg index only photo.jpg."""
    jpeg_bytes = sorted(SAMPLES.glob("*.jpg"))[0].read_bytes()
    (tmp_path / "IMG_0003.JPG").write_bytes(jpeg_bytes)
    (tmp_path / "IMG_0003.CR2").write_bytes(b"never read: the JPEG stands for it")
    (tmp_path / "trip.jpeg").write_bytes(jpeg_bytes)
    (tmp_path / "trip.nef").write_bytes(b"never read either")
    lone = write_dng(tmp_path / "lone.dng", Image.new("RGB", (80, 60), (30, 40, 220)))
    # A JPEG with another name, or a JPEG beside a non-RAW, changes nothing.
    (tmp_path / "lone2.jpg").write_bytes(jpeg_bytes)
    listed = sorted(Path(e.path).name for e in scan([tmp_path]).files)
    assert listed == ["IMG_0003.JPG", "lone.dng", "lone2.jpg", "trip.jpeg"]
    # Named on its own (as a watcher names a changed file), the rule holds too.
    assert scan([tmp_path / "IMG_0003.CR2"]).files == []
    assert [e.path for e in scan([lone]).files] == [str(lone)]

    pytest.importorskip("rawpy")  # the rest indexes lone.dng
    code, report = index_json(run, str(tmp_path))
    assert code == 0 and report["failures"] == [], report
    indexed = {Path(h["path"]).name for h in _hits(run, "picture")}
    assert indexed == {"IMG_0003.JPG", "lone.dng", "lone2.jpg", "trip.jpeg"}


def test_sniffing_knows_raw_and_avif_by_content() -> None:
    from picscribe.indexer.sniff import is_avif, sniff_format

    assert sniff_format(b"FUJIFILMCCD-RAW 0201FF383501") == "RAW"
    assert sniff_format(b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom") == "RAW"
    assert sniff_format(HEIC_HEADER[:32]) == "HEIF"
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "AVIF")
    assert sniff_format(buf.getvalue()[:32]) == "AVIF" and is_avif(buf.getvalue()[:64])
    assert not is_avif(HEIC_HEADER)


def test_the_ui_shows_a_raw_through_its_preview(tmp_path: Path) -> None:
    from picscribe.ui.thumbnails import ThumbnailCache

    pytest.importorskip("rawpy")
    dng = write_dng(tmp_path / "IMG_0003.dng", Image.new("RGB", (80, 60), (30, 40, 220)))
    thumb = ThumbnailCache(tmp_path / "thumbs").get(str(dng))
    assert thumb is not None
    with Image.open(thumb) as img:
        assert img.size == (80, 60)
        r, g, b = img.convert("RGB").getpixel((40, 30))  # type: ignore[misc]
    assert b > 180 and r < 80 and g < 80  # the preview's blue, not the raw sensor data
