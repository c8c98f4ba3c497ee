"""The decode path and the UI's thumbnails and EXIF on awkward but real files.

Bounded memory (a lower pixel limit, a budget shared by the decode workers),
PNG metadata Pillow refuses, damaged EXIF, 16-bit and float pixels, and
names that are not regular files (a FIFO must never block a reader).
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, PngImagePlugin
from support.paths import REPO

from picscribe.indexer import FakeCaptioner, Indexer, IndexOptions
from picscribe.indexer.decode import DEFAULT_MAX_PIXELS, EMBEDDED_DESCRIPTION, DecodeError, Loaded, load
from picscribe.indexer.decode_budget import DecodeBudget
from picscribe.indexer.scan import FileEntry
from picscribe.search import SentenceTransformerEmbedder
from picscribe.store import Store
from picscribe.ui.exif import read_exif
from picscribe.ui.thumbnails import ThumbnailCache

_PILLOW_LIMIT = Image.MAX_IMAGE_PIXELS
assert _PILLOW_LIMIT is not None  # Pillow's own limit is on, as it is by default
PILLOW_HARD_LIMIT = 2 * _PILLOW_LIMIT  # what picscribe allowed before


# -- helpers -------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height RGB pixels, with almost no data behind it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = _chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + idat + _chunk(b"IEND", b"")


def _png16_rgb(pixels: np.ndarray) -> bytes:
    """A 16-bit RGB PNG (Pillow cannot write one): filter type 0 on every row."""
    height, width, _ = pixels.shape
    raw = b"".join(b"\0" + row.astype(">u2").tobytes() for row in pixels)
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def _tiff16_rgb(pixels: np.ndarray) -> bytes:
    """An uncompressed little-endian 16-bit RGB TIFF, one strip (Pillow cannot write one)."""
    height, width, _ = pixels.shape
    data = pixels.astype("<u2").tobytes()
    short, long_ = 3, 4
    tags = [  # (tag, type, count, value); None: filled in below with an offset
        (256, short, 1, width),
        (257, short, 1, height),
        (258, short, 3, None),
        (259, short, 1, 1),
        (262, short, 1, 2),
        (273, long_, 1, None),
        (277, short, 1, 3),
        (278, short, 1, height),
        (279, long_, 1, len(data)),
        (284, short, 1, 1),
    ]
    bits_at = 8 + 2 + 12 * len(tags) + 4
    data_at = bits_at + 6
    out = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(tags))
    for tag, kind, count, value in tags:
        value = {258: bits_at, 273: data_at}.get(tag, value)
        if kind == long_ or tag == 258:
            out += struct.pack("<HHII", tag, kind, count, value)
        else:
            out += struct.pack("<HHIHH", tag, kind, count, value, 0)
    return out + struct.pack("<I", 0) + struct.pack("<HHH", 16, 16, 16) + data


def _scene(height: int = 64, width: int = 96) -> np.ndarray:
    """An 8-bit RGB picture with structure in every channel (gradients and blocks), not flat."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // (width - 1)).astype(np.uint8)
    g = (y * 255 // (height - 1)).astype(np.uint8)
    b = np.where(((x // 8) + (y // 8)) % 2 == 0, 40, 220).astype(np.uint8)
    return np.dstack([r, g, b])


def _read(path: Path) -> Image.Image:
    """The decoded file, with the file closed again (an open one would warn, an error here)."""
    with Image.open(path) as img:
        img.load()
        return img.copy()


def _save(img: Image.Image, path: Path, fmt: str, **params: object) -> Path:
    img.save(path, fmt, **params)
    return path


def _load(path: Path, **kwargs: object) -> Loaded:
    st = path.stat()
    return load(FileEntry(str(path), st.st_size, st.st_mtime_ns), frozenset(), **kwargs)  # type: ignore[arg-type]


def _pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB")).astype(np.int16)


def _mean_abs_diff(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> float:
    a = _pixels(a) if isinstance(a, Image.Image) else a.astype(np.int16)
    b = _pixels(b) if isinstance(b, Image.Image) else b.astype(np.int16)
    assert a.shape == b.shape
    return float(np.abs(a - b).mean())


def _promptly(fn: Callable[[], object], seconds: float = 10) -> object:
    """fn's result, or a failed test (not a hung run) when it blocks."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"blocked for more than {seconds} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("result")


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "photo.jpg"
    os.mkfifo(path)
    yield path
    # A reader the code under test left blocked in open() is let go: a writer
    # appearing unblocks it, and closing at once gives it end of file.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass  # ENXIO: nobody is reading, as it should be


# -- item 4: bounded memory ---------------------------------------------------


def test_default_pixel_limit_is_below_pillows_and_named_when_refused(tmp_path: Path) -> None:
    """A PNG near Pillow's own limit took 1.4 GB to decode; by default it is now refused
    from its header, with a reason that names the limit."""
    assert DEFAULT_MAX_PIXELS < PILLOW_HARD_LIMIT
    path = tmp_path / "near-limit.png"
    path.write_bytes(_png_header_only(13_000, 13_000))  # 169 MP: under Pillow's limit, over ours
    started = time.perf_counter()
    with pytest.raises(DecodeError) as caught:
        _load(path)
    assert time.perf_counter() - started < 2  # the header alone decided
    message = str(caught.value)
    assert "13000x13000 = 169,000,000 pixels" in message
    assert f"over the limit of {DEFAULT_MAX_PIXELS:,}" in message
    assert "max_pixels" in message  # says how to raise it


def test_jpeg_is_judged_by_the_pixels_it_decodes_to(tmp_path: Path) -> None:
    """A JPEG decodes at 1/8 of its size for free, so a limit on inflated pixels lets it through."""
    path = _save(Image.fromarray(_scene(1200, 1600)), tmp_path / "big.jpg", "JPEG")  # 1.92 MP
    loaded = _load(path, max_pixels=1_000_000, max_side=256)  # draft: 1/4 scale, 0.12 MP
    assert loaded.image is not None and max(loaded.image.size) == 256
    assert (loaded.width, loaded.height) == (1600, 1200)  # the photo's own size is recorded
    png = _save(Image.fromarray(_scene(1200, 1600)), tmp_path / "big.png", "PNG")  # no draft for PNG
    with pytest.raises(DecodeError, match="1600x1200 = 1,920,000 pixels, over the limit of 1,000,000"):
        _load(png, max_pixels=1_000_000, max_side=256)


def _large_pngs(folder: Path) -> list[FileEntry]:
    """Eight 1500x1500 PNGs (9 MB of pixels each). Written once for every budget
    tried on them, and with light compression: the inflated size is what counts."""
    folder.mkdir()
    scene = Image.fromarray(_scene(1500, 1500))
    entries = []
    for i in range(8):
        path = _save(scene.rotate(i * 45), folder / f"{i}.png", "PNG", compress_level=1)
        entries.append(FileEntry(str(path), path.stat().st_size, path.stat().st_mtime_ns))
    return entries


def _concurrent_large_decodes(
    entries: list[FileEntry], monkeypatch: pytest.MonkeyPatch, home: Path, model_cache: Path, decode_memory: int
) -> int:
    """Index-time decode of the large PNGs by four workers: the most that were inflating at the same moment."""
    in_flight = 0
    most = 0
    lock = threading.Lock()
    real_load = ImageFile.ImageFile.load

    def counting_load(self: ImageFile.ImageFile) -> object:
        nonlocal in_flight, most
        if self.size != (1500, 1500) or not self.tile:  # small images and second calls are not counted
            return real_load(self)
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        try:
            time.sleep(0.2)  # long enough for the other workers to start theirs, if allowed
            return real_load(self)
        finally:
            with lock:
                in_flight -= 1

    embedder = SentenceTransformerEmbedder(cache_dir=model_cache / "models")
    options = IndexOptions(workers=4, batch_size=4, decode_memory=decode_memory)
    # Undone on return: a later call must wrap Pillow's own load, not this one (whose sleep would stack).
    with monkeypatch.context() as patch, Store.open(home) as store:
        patch.setattr(ImageFile.ImageFile, "load", counting_load)
        indexer = Indexer(store, FakeCaptioner(), embedder, options)
        results = [outcome for _, outcome in indexer._load_ahead(entries, frozenset())]
    assert all(isinstance(r, Loaded) and r.image is not None for r in results), results
    return most


@pytest.mark.slow
def test_decode_budget_lets_only_what_fits_inflate_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path, model_cache: Path
) -> None:
    one_image = 1500 * 1500 * 4
    entries = _large_pngs(tmp_path / "large")
    # The hook sees overlap when the budget allows it: four workers, all inflating.
    assert _concurrent_large_decodes(entries, monkeypatch, home, model_cache, 64 * one_image) > 1
    # Room for one and a half: never two at once.
    assert _concurrent_large_decodes(entries, monkeypatch, home, model_cache, one_image * 3 // 2) == 1
    # Room for two.
    assert _concurrent_large_decodes(entries, monkeypatch, home, model_cache, one_image * 2) == 2


def test_an_image_bigger_than_the_whole_budget_still_decodes_alone(tmp_path: Path) -> None:
    path = _save(Image.fromarray(_scene(600, 800)), tmp_path / "a.png", "PNG")
    budget = DecodeBudget(1024)
    loaded = _promptly(lambda: _load(path, budget=budget))
    assert isinstance(loaded, Loaded) and budget.in_use == 0


def test_shrinking_before_conversion_keeps_the_picture(tmp_path: Path) -> None:
    """Large transparent and rotated images go through reduce() first; the result must
    match what a full-size convert + exif_transpose + thumbnail gives."""
    from PIL import ImageOps

    scene = Image.fromarray(_scene(1800, 2400))
    rgba = scene.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.where(_scene(1800, 2400)[:, :, 2] > 100, 255, 0).astype(np.uint8)))
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90 degrees clockwise to show
    png = _save(rgba, tmp_path / "rgba.png", "PNG")
    jpg = _save(scene, tmp_path / "turned.jpg", "JPEG", exif=exif.tobytes(), quality=95)

    loaded = _load(png, max_side=300)
    white = Image.new("RGB", rgba.size, (255, 255, 255))
    white.paste(rgba, mask=rgba.getchannel("A"))
    white.thumbnail((300, 300), Image.Resampling.BICUBIC)
    assert loaded.image is not None and loaded.image.size == white.size
    assert _mean_abs_diff(loaded.image, white) < 3

    turned = _load(jpg, max_side=300)
    with Image.open(jpg) as img:  # as before: draft, turn, convert, thumbnail
        img.draft("RGB", (300, 300))
        expected = ImageOps.exif_transpose(img).convert("RGB")
    expected.thumbnail((300, 300), Image.Resampling.BICUBIC)
    assert turned.image is not None and turned.image.size == expected.size == (225, 300)
    assert (turned.width, turned.height) == (1800, 2400)
    assert _mean_abs_diff(turned.image, expected) < 3


# -- item 9a: PNG metadata Pillow refuses ---------------------------------------


def _with_chunks(png: bytes, chunks: list[bytes], *, after_pixels: bool) -> bytes:
    ihdr_end = 8 + 25
    if after_pixels:
        iend = png.rindex(b"IEND") - 4
        return png[:iend] + b"".join(chunks) + png[iend:]
    return png[:ihdr_end] + b"".join(chunks) + png[ihdr_end:]


_BIG = 2 * PngImagePlugin.MAX_TEXT_CHUNK
_XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
    '<rdf:li xml:lang="x-default">A red barn in snow</rdf:li></rdf:Alt></dc:description>'
    "</rdf:Description></rdf:RDF></x:xmpmeta>"
)


@pytest.mark.parametrize("after_pixels", [False, True], ids=["before-IDAT", "after-IDAT"])
@pytest.mark.parametrize(
    "big_chunk",
    [
        pytest.param(_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"x" * _BIG)), id="zTXt"),
        pytest.param(_chunk(b"iTXt", b"Comment\0\1\0en\0\0" + zlib.compress(b"y" * _BIG)), id="iTXt"),
        pytest.param(_chunk(b"iCCP", b"profile\0\0" + zlib.compress(b"z" * _BIG)), id="iCCP"),
    ],
)
def test_png_with_oversize_metadata_decodes_its_pixels(tmp_path: Path, big_chunk: bytes, after_pixels: bool) -> None:
    original = Image.fromarray(_scene())
    buffer = io.BytesIO()
    original.save(buffer, "PNG")
    small_xmp = _chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + _XMP.encode())
    path = tmp_path / "text.png"
    path.write_bytes(_with_chunks(buffer.getvalue(), [small_xmp, big_chunk], after_pixels=after_pixels))
    with pytest.raises(ValueError, match="MAX_TEXT_CHUNK"):  # what Pillow alone does
        _read(path)

    loaded = _load(path)
    assert loaded.image is not None and _mean_abs_diff(loaded.image, original) == 0
    # Only what Pillow refused is dropped: the small XMP caption is still read.
    assert loaded.image.info[EMBEDDED_DESCRIPTION] == {"xmp": "A red barn in snow"}
    assert loaded.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()


def test_png_broken_elsewhere_keeps_its_error(tmp_path: Path) -> None:
    """Dropping metadata is a retry for Pillow's text limits only, not a way round real damage."""
    buffer = io.BytesIO()
    Image.fromarray(_scene()).save(buffer, "PNG")
    data = buffer.getvalue()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError, match="truncated"):
        _load(path)


# -- item 9b: damaged EXIF ---------------------------------------------------------


def _corrupt_exif() -> bytes:
    """EXIF whose first IFD promises three entries but holds one (a camera make, "Acm")."""
    make = struct.pack("<HHI4s", 0x010F, 2, 4, b"Acm\0")
    return b"Exif\0\0II*\0" + struct.pack("<I", 8) + struct.pack("<H", 3) + make


@pytest.fixture
def corrupt_exif_jpeg(tmp_path: Path) -> Path:
    path = _save(Image.fromarray(_scene()), tmp_path / "exif.jpg", "JPEG", exif=_corrupt_exif())
    with pytest.warns(UserWarning, match="Corrupt EXIF data"):  # the file really is one that warns
        with Image.open(path) as img:
            img.getexif()
    return path


def test_corrupt_exif_neither_warns_nor_fails_the_decode(corrupt_exif_jpeg: Path) -> None:
    # filterwarnings = error: a warning that leaked would be raised right here.
    loaded = _load(corrupt_exif_jpeg)
    with pytest.warns(UserWarning, match="Corrupt EXIF data"):
        reference = _read(corrupt_exif_jpeg)
    assert loaded.image is not None and _mean_abs_diff(loaded.image, reference) == 0


def test_corrupt_exif_in_the_ui_shows_what_can_be_read(corrupt_exif_jpeg: Path, tmp_path: Path) -> None:
    assert read_exif(str(corrupt_exif_jpeg)).camera == "Acm"
    assert ThumbnailCache(tmp_path / "thumbs").get(str(corrupt_exif_jpeg)) is not None


def test_corrupt_exif_prints_nothing_outside_tests(corrupt_exif_jpeg: Path, tmp_path: Path) -> None:
    """With Python's default warning filters (a user's run), nothing reaches stderr."""
    script = (
        "import sys, warnings; warnings.resetwarnings(); warnings.simplefilter('default')\n"
        "from picscribe.indexer.decode import load; from picscribe.indexer.scan import FileEntry\n"
        "from picscribe.ui.exif import read_exif; from picscribe.ui.thumbnails import ThumbnailCache\n"
        "load(FileEntry(sys.argv[1], 0, 0), frozenset()); read_exif(sys.argv[1])\n"
        "assert ThumbnailCache(__import__('pathlib').Path(sys.argv[2])).get(sys.argv[1])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(corrupt_exif_jpeg), str(tmp_path / "thumbs")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


# -- item 11: 16-bit and float pixels ------------------------------------------------


def _grey16(tmp_path: Path, fmt: str, mode: str) -> tuple[Path, Image.Image]:
    """The scene in grey, written with 16-bit values (v * 257) in ``mode``; and the 8-bit grey."""
    grey = Image.fromarray(_scene()).convert("L")
    values = np.asarray(grey).astype(np.uint16) * 257
    if mode == "I;16B":
        wide = Image.frombytes(mode, grey.size, values.astype(">u2").tobytes())
    else:
        wide = Image.fromarray(values).convert(mode)  # from I;16: the values stay 0..65535
    suffix = ".png" if fmt == "PNG" else ".tif"
    return _save(wide, tmp_path / f"grey-{mode.replace(';', '')}{suffix}", fmt), grey


def _files_16bit(tmp_path: Path) -> dict[str, tuple[Path, Image.Image]]:
    rgb = Image.fromarray(_scene())
    wide_rgb = _scene().astype(np.uint16) * 257
    png_rgb = tmp_path / "rgb16.png"
    png_rgb.write_bytes(_png16_rgb(wide_rgb))
    tif_rgb = tmp_path / "rgb16.tif"
    tif_rgb.write_bytes(_tiff16_rgb(wide_rgb))
    grey = Image.fromarray(_scene()).convert("L")
    unit = Image.fromarray(np.asarray(grey).astype(np.float32) / 255)  # float, 0..1
    files = {
        "grey16-png": _grey16(tmp_path, "PNG", "I;16"),
        "grey16-tiff": _grey16(tmp_path, "TIFF", "I;16"),
        "grey16-big-endian-tiff": _grey16(tmp_path, "TIFF", "I;16B"),
        "grey32-int-tiff-holding-16-bit": _grey16(tmp_path, "TIFF", "I"),
        "float-tiff-0-to-1": (_save(unit, tmp_path / "float.tif", "TIFF"), grey),
        "rgb16-png": (png_rgb, rgb),
        "rgb16-tiff": (tif_rgb, rgb),
    }
    for path, _ in files.values():
        _read(path)  # each is a file Pillow reads, in the mode it says
    return files


KINDS_16BIT = [
    "grey16-png",
    "grey16-tiff",
    "grey16-big-endian-tiff",
    "grey32-int-tiff-holding-16-bit",
    "float-tiff-0-to-1",
    "rgb16-png",
    "rgb16-tiff",
]


@pytest.mark.parametrize("kind", KINDS_16BIT)
def test_high_bit_depth_decodes_like_its_8_bit_original(tmp_path: Path, kind: str) -> None:
    path, original = _files_16bit(tmp_path)[kind]
    loaded = _load(path)
    assert loaded.image is not None and loaded.image.mode == "RGB"
    assert _mean_abs_diff(loaded.image, original) < 2


@pytest.mark.parametrize("kind", KINDS_16BIT)
def test_high_bit_depth_thumbnail_looks_like_its_8_bit_original(tmp_path: Path, kind: str) -> None:
    path, original = _files_16bit(tmp_path)[kind]
    cache = ThumbnailCache(tmp_path / "thumbs", edge=200)
    reference = _save(original.convert("RGB"), tmp_path / "reference.png", "PNG")
    made, expected = cache.get(str(path)), cache.get(str(reference))
    assert made is not None and expected is not None
    assert _mean_abs_diff(_read(made), _read(expected)) < 2


def test_large_16_bit_image_is_scaled_then_shrunk(tmp_path: Path) -> None:
    """reduce() cannot take 16-bit grey: the conversion comes first, and is still a scale, not a clip."""
    grey = Image.fromarray(_scene(1600, 2400)).convert("L")
    path = _save(Image.fromarray(np.asarray(grey).astype(np.uint16) * 257), tmp_path / "big16.png", "PNG")
    loaded = _load(path, max_side=300)
    expected = grey.convert("RGB")
    expected.thumbnail((300, 300), Image.Resampling.BICUBIC)
    assert loaded.image is not None and loaded.image.size == expected.size
    assert _mean_abs_diff(loaded.image, expected) < 2


# -- item 2 (decode half): names that are not regular files ---------------------------


def test_fifo_is_refused_promptly_by_the_decoder(fifo: Path) -> None:
    with pytest.raises(DecodeError, match=r"not a regular file \(FIFO\)"):
        _promptly(lambda: load(FileEntry(str(fifo), 0, 0), frozenset()))


def test_fifo_is_refused_promptly_by_thumbnails_and_exif(fifo: Path, tmp_path: Path) -> None:
    assert _promptly(lambda: ThumbnailCache(tmp_path / "thumbs").get(str(fifo))) is None
    assert _promptly(lambda: read_exif(str(fifo))) == read_exif(str(tmp_path / "missing.jpg"))


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        pytest.param(lambda p: p.symlink_to("/dev/zero"), "character device", id="symlink-to-dev-zero"),
        pytest.param(lambda p: p.mkdir(), "directory", id="directory"),
    ],
)
def test_other_non_regular_files_are_named_for_what_they_are(
    tmp_path: Path, make: Callable[[Path], object], kind: str
) -> None:
    path = tmp_path / "x.jpg"
    make(path)
    with pytest.raises(DecodeError, match=rf"not a regular file \({kind}\)"):
        _promptly(lambda: load(FileEntry(str(path), 0, 0), frozenset()))
    assert _promptly(lambda: ThumbnailCache(tmp_path / "thumbs").get(str(path))) is None
