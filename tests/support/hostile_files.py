"""A corpus of hostile files: every way a photo folder can hurt an indexer.

``HOSTILE`` lists each kind once: how to make it, the file name it gets and
what indexing must make of it:

- ``ok``: indexed, with a correct row (the content hash of its bytes, a
  current caption; ``caption_has`` / ``same_caption_as`` pin what the fake
  captioner must have seen, which catches wrong pixels);
- ``error``: not indexed, and reported with a clear reason that names the file
  (in the run's ``--json`` failures or skipped lists);
- ``either``: a damaged image that may be decoded as far as it goes, or
  reported as above, but nothing else;
- ``not-ok``: never indexed as an image (a report is welcome, not required);
- ``ignored``: no row and no report (a folder, a hidden file).

Every name holds the kind's token (``hk07_``) so that report entries and index
rows, whatever became of the rest of the name, are found by it. Run as root,
``chmod 000`` stops no read, so an unreadable file is not a kind here; a
socket and character devices stand in for files that cannot be read.
"""

from __future__ import annotations

import io
import os
import socket
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

Maker = Callable[[Path, Path], None]  # (the file to make, the corpus folder)


@dataclass(frozen=True)
class Hostile:
    kind: str
    pattern: str  # file name, "{t}" standing for the token
    expect: str  # ok | error | either | not-ok | ignored
    make: Maker
    caption_has: str | None = None
    same_caption_as: str | None = None  # another kind, whose caption must be this one's

    def token(self) -> str:
        return f"hk{HOSTILE.index(self):02d}_"

    def name(self) -> str:
        return self.pattern.replace("{t}", self.token())


# -- image bytes --------------------------------------------------------------


def _picture(size: tuple[int, int] = (48, 32), colour: tuple[int, int, int] = (40, 70, 200)) -> Image.Image:
    """A flat colour with a little texture, so JPEGs of it are not trivial."""
    w, h = size
    arr = np.zeros((h, w, 3), dtype=np.int16) + np.array(colour, dtype=np.int16)
    arr += (np.indices((h, w)).sum(axis=0) % 5 - 2)[..., None].astype(np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _jpeg(img: Image.Image | None = None, **kw: object) -> bytes:
    return _encode(img or _picture(), "JPEG", quality=90, **kw)


def _png(img: Image.Image | None = None, **kw: object) -> bytes:
    return _encode(img or _picture(), "PNG", **kw)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_raw(width: int, height: int, depth: int, colour_type: int, raw_rows: bytes) -> bytes:
    """A PNG written by hand: for 16-bit RGB (Pillow cannot write it) and lying headers."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    chunks = _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw_rows)) + _chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


#: Grey and blue 8-bit originals, and their 16-bit twins (every 8-bit value v is v * 257).
GREY = 100
BLUE = (40, 70, 200)


def _grey16() -> np.ndarray:
    return np.full((32, 48), GREY * 257, dtype=np.uint16)


def _rgb16_png() -> bytes:
    px = np.empty((32, 48, 3), dtype=">u2")
    px[...] = np.array(BLUE, dtype=np.uint32) * 257
    rows = b"".join(b"\x00" + px[y].tobytes() for y in range(px.shape[0]))
    return _png_raw(48, 32, 16, 2, rows)


def _exif_jpeg(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _jpeg(_picture((60, 20)), exif=exif.tobytes())


def _corrupt_exif_jpeg() -> bytes:
    # One IFD entry claiming 5000 bytes of ImageDescription at an offset past
    # the end: Pillow warns "Corrupt EXIF data" when it reads it.
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
    tiff += struct.pack("<HHII", 0x010E, 2, 5000, 0x4000) + struct.pack("<I", 0)
    payload = b"Exif\x00\x00" + tiff
    good = _jpeg()
    return good[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + good[2:]


def _gif_no_frames() -> bytes:
    return b"GIF89a" + struct.pack("<HHBBB", 10, 10, 0, 0, 0) + b";"


def _animated_gif() -> bytes:
    frames = [_picture(colour=c).convert("P") for c in ((200, 40, 40), (40, 160, 60), (40, 70, 200))]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _tiff_pages() -> bytes:
    pages = [_picture(colour=c) for c in ((200, 40, 40), (40, 70, 200))]
    return _encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])


def _bad_crc_png() -> bytes:
    data = bytearray(_png())
    data[29] ^= 0xFF  # the IHDR checksum (8 signature + 8 length/type + 13 data)
    return bytes(data)


def _ztxt_png() -> bytes:
    info = PngInfo()
    info.add_text("Comment", "x" * (2 * 1024 * 1024), zip=True)  # 2 MB inflated, ~2 KB on disk
    return _png(pnginfo=info)


def _bomb_png(side: int) -> bytes:
    return _png_raw(side, side, 8, 2, b"\x00" * 64)


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("photo.jpg", _jpeg())
    return buf.getvalue()


def _palette_transparent() -> bytes:
    img = _picture().convert("P")
    return _png(img, transparency=0)


def _write(data: bytes | Callable[[], bytes]) -> Maker:
    def make(path: Path, _corpus: Path) -> None:
        path.write_bytes(data() if callable(data) else data)

    return make


def _image(fn: Callable[[], Image.Image], fmt: str, **kw: object) -> Maker:
    return _write(lambda: _encode(fn(), fmt, **kw))


# -- files that are not plain files --------------------------------------------


def _fifo(path: Path, _corpus: Path) -> None:
    os.mkfifo(path)


def _socket(path: Path, _corpus: Path) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # the socket file stays; opening it fails with ENXIO


def _symlink_to(target: str) -> Maker:
    def make(path: Path, _corpus: Path) -> None:
        os.symlink(target, path)

    return make


def _symlink_loop(path: Path, _corpus: Path) -> None:
    os.symlink(path.name, path)


def _dir_named_jpg(path: Path, _corpus: Path) -> None:
    path.mkdir()


def _inside_dir_named_jpg(path: Path, corpus: Path) -> None:
    folder = corpus / DIR_NAMED_JPG.name()
    folder.mkdir(exist_ok=True)
    (folder / path.name).write_bytes(_jpeg(_picture(colour=(200, 40, 40))))


def _hard_link(path: Path, corpus: Path) -> None:
    os.link(corpus / "control-0.jpg", path)


def _symlink_to_good(path: Path, corpus: Path) -> None:
    os.symlink("control-1.png", path)


def _outside_folder_link(path: Path, corpus: Path) -> None:
    outside = corpus.parent / "outside-the-library"
    outside.mkdir(exist_ok=True)
    (outside / path.name).write_bytes(_jpeg(_picture(colour=(230, 210, 40))))
    link = corpus / "link-to-outside"
    if not link.exists():
        os.symlink(outside, link)


DIR_NAMED_JPG = Hostile("dir-named-jpg", "{t}folder.jpg", "ignored", _dir_named_jpg)

HOSTILE: list[Hostile] = [
    # Damaged or lying image files.
    Hostile("zero-bytes", "{t}zero.jpg", "error", _write(b"")),
    Hostile("text-named-jpg", "{t}notes.jpg", "error", _write(b"just some text, not a photo\n" * 20)),
    Hostile("html-named-png", "{t}page.png", "error", _write(b"<!doctype html><html><body><script>alert(1)</script>")),
    Hostile(
        "svg-named-png",
        "{t}vector.png",
        "error",
        _write(b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10"/></svg>'),
    ),
    Hostile("zip-named-jpg", "{t}archive.jpg", "error", _write(_zip_bytes)),
    Hostile("pdf-named-jpg", "{t}document.jpg", "error", _write(b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n")),
    Hostile("jpeg-soi-eoi-only", "{t}empty.jpg", "error", _write(b"\xff\xd8\xff\xd9")),
    Hostile("png-signature-only", "{t}sig.png", "error", _write(b"\x89PNG\r\n\x1a\n")),
    Hostile("truncated-jpeg", "{t}half.jpg", "either", _write(lambda: _jpeg(_picture((200, 150)))[:700])),
    Hostile("truncated-png", "{t}half.png", "either", _write(lambda: _png(_picture((200, 150)))[:120])),
    Hostile("png-bad-crc", "{t}crc.png", "either", _write(_bad_crc_png)),
    Hostile("decompression-bomb-header", "{t}bomb.png", "error", _write(lambda: _bomb_png(100_000))),
    Hostile("over-pixel-limit-header", "{t}huge.png", "error", _write(lambda: _bomb_png(20_000))),
    Hostile("gif-zero-frames", "{t}noframes.gif", "error", _write(_gif_no_frames)),
    Hostile(
        "fake-heic",
        "{t}phone.heic",
        "error",
        _write(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64),
    ),
    # Valid images of every awkward kind.
    Hostile("png-huge-ztxt", "{t}ztxt.png", "ok", _write(_ztxt_png), same_caption_as="control-png"),
    Hostile("animated-gif", "{t}anim.gif", "ok", _write(_animated_gif)),
    Hostile(
        "gif-transparency", "{t}transparent.gif", "ok", _image(lambda: _picture().convert("P"), "GIF", transparency=0)
    ),
    Hostile(
        "cmyk-jpeg",
        "{t}cmyk.jpg",
        "ok",
        _image(lambda: _picture().convert("CMYK"), "JPEG", quality=95),
        caption_has="mostly blue",
    ),
    Hostile("png-8bit-grey", "{t}grey8.png", "ok", _image(lambda: Image.new("L", (48, 32), GREY), "PNG")),
    Hostile(
        "png-16bit-grey",
        "{t}grey16.png",
        "ok",
        _image(lambda: Image.fromarray(_grey16()), "PNG"),
        same_caption_as="png-8bit-grey",
    ),
    Hostile("png-16bit-rgb", "{t}rgb16.png", "ok", _write(_rgb16_png), same_caption_as="control-png"),
    Hostile(
        "tiff-16bit-grey",
        "{t}grey16.tif",
        "ok",
        _image(lambda: Image.fromarray(_grey16()), "TIFF"),
        same_caption_as="png-8bit-grey",
    ),
    Hostile(
        "tiff-float",
        "{t}float.tif",
        "ok",
        _image(lambda: Image.fromarray(np.full((32, 48), 0.4, dtype=np.float32), "F"), "TIFF"),
    ),
    Hostile("palette-transparency", "{t}palette.png", "ok", _write(_palette_transparent)),
    Hostile("la-png", "{t}la.png", "ok", _image(lambda: _picture().convert("LA"), "PNG")),
    Hostile("rgba-png", "{t}rgba.png", "ok", _image(lambda: _picture().convert("RGBA"), "PNG")),
    Hostile("one-bit-png", "{t}bilevel.png", "ok", _image(lambda: _picture().convert("1"), "PNG")),
    Hostile("corrupt-exif", "{t}badexif.jpg", "ok", _write(_corrupt_exif_jpeg)),
    *[
        Hostile(
            f"exif-orientation-{k}",
            f"{{t}}orient{k}.jpg",
            "ok",
            _write(partial(_exif_jpeg, k)),
            caption_has=" landscape " if k <= 4 else " portrait ",
        )
        for k in range(1, 9)
    ],
    Hostile(
        "jpeg-trailing-garbage",
        "{t}trailing.jpg",
        "ok",
        _write(lambda: _jpeg() + b"GARBAGE" * 500),
        same_caption_as="control-jpeg",
    ),
    Hostile(
        "progressive-jpeg",
        "{t}progressive.jpg",
        "ok",
        _write(lambda: _jpeg(progressive=True)),
        same_caption_as="control-jpeg",
    ),
    Hostile("one-pixel", "{t}dot.png", "ok", _image(lambda: _picture((1, 1)), "PNG")),
    Hostile(
        "extreme-aspect", "{t}sliver.png", "ok", _image(lambda: _picture((1, 3000)), "PNG"), caption_has=" portrait "
    ),
    Hostile("bmp", "{t}bitmap.bmp", "ok", _image(_picture, "BMP"), caption_has="mostly blue"),
    Hostile("webp", "{t}modern.webp", "ok", _image(_picture, "WEBP", lossless=True), caption_has="mostly blue"),
    Hostile("tiff-multipage", "{t}pages.tif", "ok", _write(_tiff_pages)),
    Hostile("png-named-jpg", "{t}really-png.jpg", "ok", _write(lambda: _png()), same_caption_as="control-png"),
    Hostile("no-extension-jpeg", "{t}noextension", "ok", _write(lambda: _jpeg()), same_caption_as="control-jpeg"),
    Hostile("upper-case-extension", "{t}SHOUT.JPG", "ok", _write(lambda: _jpeg(_picture((50, 32))))),
    # Names.
    Hostile("name-esc-clear-screen", "{t}\x1b[2Jclear.jpg", "ok", _write(lambda: _jpeg(_picture((47, 32))))),
    Hostile("name-osc-title-bel", "{t}\x1b]0;pwned\x07title.jpg", "ok", _write(lambda: _jpeg(_picture((46, 32))))),
    Hostile("name-newline", "{t}two\nlines.jpg", "ok", _write(lambda: _jpeg(_picture((45, 32))))),
    Hostile(
        "name-255-bytes",
        "{t}" + "n" * (255 - len("hk00_") - len(".jpg")) + ".jpg",
        "ok",
        _write(lambda: _jpeg(_picture((44, 32)))),
    ),
    Hostile("name-unicode-nfc", "{t}caf\u00e9.jpg", "ok", _write(lambda: _jpeg(_picture((43, 32))))),
    Hostile("name-unicode-nfd", "{t}cafe\u0301.jpg", "ok", _write(lambda: _jpeg(_picture((42, 32))))),
    Hostile("name-leading-dash", "-{t}rf.jpg", "ok", _write(lambda: _jpeg(_picture((41, 32))))),
    Hostile("name-spaces", "{t} holiday  photo .jpg", "ok", _write(lambda: _jpeg(_picture((40, 32))))),
    Hostile("name-emoji", "{t}\U0001f305 sunrise.jpg", "ok", _write(lambda: _jpeg(_picture((39, 32))))),
    # A name is printed when its file fails: these must not drive the terminal.
    Hostile("broken-file-esc-name", "{t}\x1b[2J\x1b[31mred.jpg", "error", _write(b"not a photo")),
    Hostile("broken-file-osc-name", "{t}\x1b]0;pwned\x07\x1b]8;;x\x07link.png", "error", _write(b"")),
    Hostile("name-not-utf8", "{t}caf\udce9-latin1.jpg", "error", _write(lambda: _jpeg(_picture((38, 32))))),
    Hostile("hidden-file", ".{t}hidden.jpg", "ignored", _write(lambda: _jpeg(_picture((37, 32))))),
    # Things that are not plain files.
    Hostile("fifo-named-jpg", "{t}pipe.jpg", "error", _fifo),
    Hostile("fifo-no-extension", "{t}pipe", "not-ok", _fifo),
    Hostile("socket-named-jpg", "{t}socket.jpg", "error", _socket),
    Hostile("symlink-to-dev-zero", "{t}zeros.jpg", "error", _symlink_to("/dev/zero")),
    Hostile("symlink-to-dev-null", "{t}null.jpg", "error", _symlink_to("/dev/null")),
    Hostile("dangling-symlink", "{t}dangling.jpg", "error", _symlink_to("no-such-photo.jpg")),
    Hostile("symlink-loop", "{t}loop.jpg", "error", _symlink_loop),
    DIR_NAMED_JPG,
    Hostile("inside-dir-named-jpg", "{t}inner.jpg", "ok", _inside_dir_named_jpg, caption_has="mostly red"),
    Hostile("hard-link", "{t}hardlink.jpg", "ok", _hard_link, same_caption_as="control-jpeg"),
    Hostile("symlink-to-good-image", "{t}alias.png", "either", _symlink_to_good),
    Hostile("through-folder-link-outside", "{t}outside.jpg", "not-ok", _outside_folder_link),
]


#: Good photos, some the twins that ``same_caption_as`` compares with: every one must be indexed.
def _control_jpeg(i: int) -> bytes:
    return _jpeg(_picture(colour=(30 * i, 120, 90)))


CONTROLS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "control-jpeg": ("control-0.jpg", lambda: _jpeg()),
    "control-png": ("control-1.png", lambda: _png()),
    **{f"control-{i}": (f"control-{i}.jpg", partial(_control_jpeg, i)) for i in range(2, 6)},
}


def make_corpus(corpus: Path) -> None:
    """Write the controls and every hostile kind into ``corpus`` (which must exist)."""
    for name, data in CONTROLS.values():
        (corpus / name).write_bytes(data())
    for h in HOSTILE:
        if h is DIR_NAMED_JPG and (corpus / h.name()).exists():
            continue
        h.make(corpus / h.name(), corpus)
