"""Edits that leave an image's pixels alone: a caption file or XMP sidecar next
to it edited (issue 17: picked up by ``index`` and by ``watch``), and metadata
written into the file itself (its bytes change, its pixels do not: captions
are kept, never made again, never lost)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
from PIL import Image
from support.cli import Run
from support.paths import SAMPLES
from support.watching import StartWatcher, eventually, rows, write_jpeg

from picscribe.indexer.captioners.sidecar import SidecarCaptioner
from picscribe.search import SentenceTransformerEmbedder
from picscribe.store import DB_NAME, Store

SAMPLE_FILES = sorted(SAMPLES.glob("*.jpg"))[:3]

XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{description}</rdf:li></rdf:Alt></dc:description>
   <Iptc4xmpExt:AltTextAccessibility><rdf:Alt><rdf:li xml:lang="x-default">{alt}</rdf:li></rdf:Alt>
   </Iptc4xmpExt:AltTextAccessibility>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def _index(run: Run, folder: Path, captioner: str, *, ok: bool = True) -> dict:
    result = run("index", folder, "--captioner", captioner, "--json")
    assert (result.exit_code == 0) is ok, result.output
    return json.loads(result.stdout)


def _photos(root: Path) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(src, root / src.name)) for src in SAMPLE_FILES]


def _edit(path: Path, text: str) -> None:
    """Rewrite ``path`` so that its mtime surely moves, however coarse the clock."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def _texts(home: Path, image: Path) -> dict[str, tuple[str, bool]]:
    """task -> (text, human) of every caption the image's current content has."""
    with sqlite3.connect(home / DB_NAME) as db:
        found = db.execute(
            "SELECT c.task, c.text, c.human FROM images i JOIN captions c ON c.content_hash = i.content_hash"
            " WHERE i.path = ? ORDER BY c.created_at, c.id",
            (str(image),),
        ).fetchall()
    return {task: (text, bool(human)) for task, text, human in found}


def _current(home: Path, image: Path) -> tuple[str, bool]:
    with sqlite3.connect(home / DB_NAME) as db:
        (text, human) = db.execute(
            "SELECT c.text, c.human FROM images i JOIN current_captions cc ON cc.content_hash = i.content_hash"
            " JOIN captions c ON c.id = cc.caption_id WHERE i.path = ?",
            (str(image),),
        ).fetchone()
    return text, bool(human)


# -- an edited sidecar, picked up by index ---------------------------------------


def test_an_edited_caption_file_is_read_again_and_nothing_else_is(run: Run, tmp_path: Path, home: Path) -> None:
    a, b, c = _photos(tmp_path / "photos")
    for photo, text in ((a, "first words"), (b, "a quiet harbour"), (c, "zebras at noon")):
        _edit(photo.with_suffix(".txt"), text)
    first = _index(run, tmp_path / "photos", "sidecar")
    assert first["captioned"] == 3

    _edit(a.with_suffix(".txt"), "second words, edited")
    again = _index(run, tmp_path / "photos", "sidecar")
    assert (again["captioned"], again["unchanged"], again["failed"]) == (1, 2, 0), again
    assert _current(home, a) == ("second words, edited", True)
    hit = run("search", "second words edited", "--json", "--limit", "1")
    assert hit.exit_code == 0 and str(a) in hit.stdout
    # Nothing changed since: nothing is read.
    assert _index(run, tmp_path / "photos", "sidecar")["unchanged"] == 3


def test_an_edited_xmp_sidecar_is_read_again_with_its_alt_text(run: Run, tmp_path: Path, home: Path) -> None:
    (photo, *_rest) = _photos(tmp_path / "photos")
    for other in _rest:
        other.unlink()
    sidecar = Path(f"{photo}.xmp")
    _edit(sidecar, XMP.format(description="A red boat by a pier", alt="Red boat."))
    assert _index(run, photo.parent, "sidecar")["captioned"] == 1
    assert _texts(home, photo) == {"caption": ("A red boat by a pier", True), "alt_text": ("Red boat.", True)}

    _edit(sidecar, XMP.format(description="A blue boat by a pier", alt="Blue boat."))
    assert _index(run, photo.parent, "sidecar")["captioned"] == 1
    assert _texts(home, photo) == {"caption": ("A blue boat by a pier", True), "alt_text": ("Blue boat.", True)}


def test_a_caption_file_added_beside_a_failed_image_is_read(run: Run, tmp_path: Path, home: Path) -> None:
    (photo, *_rest) = _photos(tmp_path / "photos")
    for other in _rest:
        other.unlink()
    result = run("index", photo.parent, "--captioner", "sidecar", "--json")
    assert result.exit_code == 1 and "no caption found" in result.stdout
    # The failure is final while nothing changes...
    still = _index(run, photo.parent, "sidecar")
    assert still["captioned"] == 0 and [f["path"] for f in still["still_failing"]] == [str(photo)]
    # ...and a caption file appearing next to the image is a change.
    _edit(photo.with_suffix(".caption"), "a caption that came later")
    assert _index(run, photo.parent, "sidecar")["captioned"] == 1
    assert _current(home, photo) == ("a caption that came later", True)


# -- an edited sidecar, picked up by watch ----------------------------------------


def test_watch_reads_an_image_again_when_its_sidecar_changes(
    start_watcher: StartWatcher, library: Path, home: Path
) -> None:
    photo = write_jpeg(library / "dog.jpg", 1)
    _edit(library / "dog.txt", "a dog on a sofa")
    write_jpeg(library / "cat.jpg", 2)
    _edit(library / "cat.jpg.xmp", XMP.format(description="a cat in a box", alt="Cat."))
    start_watcher(captioner=SidecarCaptioner())
    eventually(lambda: sorted(rows(home)) == [str(library / "cat.jpg"), str(photo)] or rows(home), "indexed at start")
    assert _current(home, photo) == ("a dog on a sofa", True)
    hashes = rows(home)

    _edit(library / "dog.txt", "a dog asleep on the sofa")
    eventually(lambda: _current(home, photo)[0] == "a dog asleep on the sofa" or _current(home, photo), "txt edit")
    _edit(library / "cat.jpg.xmp", XMP.format(description="a cat asleep in a box", alt="Cat."))
    cat = library / "cat.jpg"
    eventually(lambda: _current(home, cat)[0] == "a cat asleep in a box" or _current(home, cat), "xmp edit")
    assert rows(home) == hashes  # the images themselves did not change


# -- metadata written into the file: other bytes, same pixels ---------------------


def _with_comment(path: Path, comment: bytes) -> None:
    """Add a JPEG comment segment after SOI: what any metadata writer does, pixels untouched."""
    data = path.read_bytes()
    assert data[:2] == b"\xff\xd8"
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    path.write_bytes(data[:2] + segment + data[2:])


def _pixels(path: Path) -> bytes:
    with Image.open(path) as img:
        return img.convert("RGB").tobytes()


def test_metadata_written_into_a_file_keeps_its_captions_and_a_persons_text(
    run: Run, tmp_path: Path, home: Path, model_cache: Path
) -> None:
    a, b, c = _photos(tmp_path / "photos")
    assert _index(run, a.parent, "fake")["captioned"] == 3
    embedder = SentenceTransformerEmbedder(cache_dir=model_cache / "models")
    with Store.open(home) as store:
        store.set_human_caption(str(a), "Grandma's boat, 1998", embedder.embed(["Grandma's boat, 1998"])[0])
    generated_b = _current(home, b)
    pixels_a = _pixels(a)

    _with_comment(a, b"edited in another app")
    _with_comment(b, b"keywords: harbour")
    assert _pixels(a) == pixels_a
    report = _index(run, a.parent, "fake")
    assert (report["kept"], report["captioned"], report["unchanged"], report["failed"]) == (2, 0, 1, 0), report
    assert _current(home, a) == ("Grandma's boat, 1998", True)
    assert _current(home, b) == generated_b
    # The rows now hold the new bytes, so the next run reads nothing.
    assert _index(run, a.parent, "fake")["unchanged"] == 3
    with sqlite3.connect(home / DB_NAME) as db:
        (integrity,) = db.execute("PRAGMA integrity_check").fetchone()
    assert integrity == "ok"

    # Other pixels are another photo: captioned again.
    with Image.open(c) as img:
        img.rotate(90, expand=True).save(c, quality=90)
    assert _index(run, a.parent, "fake")["captioned"] == 1


def test_a_captioner_that_reads_metadata_reads_a_metadata_edit(run: Run, tmp_path: Path, home: Path) -> None:
    (photo, *_rest) = _photos(tmp_path / "photos")
    for other in _rest:
        other.unlink()
    with Image.open(photo) as img:
        exif = img.getexif()
        exif[0x010E] = "A lighthouse at dusk"
        img.save(photo, exif=exif, quality=95)
    assert _index(run, photo.parent, "sidecar")["captioned"] == 1
    assert _current(home, photo) == ("A lighthouse at dusk", True)
    # Same pixels, new EXIF text: for this captioner that text is the input.
    data = photo.read_bytes()
    photo.write_bytes(data.replace(b"A lighthouse at dusk", b"A lighthouse at dawn"))
    report = _index(run, photo.parent, "sidecar")
    assert (report["kept"], report["captioned"]) == (0, 1), report
    assert _current(home, photo) == ("A lighthouse at dawn", True)


def test_equal_pixel_hashes_come_from_the_pixels_only(tmp_path: Path) -> None:
    from picscribe.indexer.decode import pixel_hash

    img = Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 48, 3), dtype=np.uint8))
    same = img.copy()
    same.info["comment"] = b"metadata does not count"
    one_pixel = img.copy()
    one_pixel.putpixel((0, 0), (1, 2, 3) if img.getpixel((0, 0)) != (1, 2, 3) else (4, 5, 6))
    assert pixel_hash(img) == pixel_hash(same)
    assert pixel_hash(img) != pixel_hash(one_pixel)
    assert pixel_hash(img) != pixel_hash(img.transpose(Image.Transpose.ROTATE_180))
