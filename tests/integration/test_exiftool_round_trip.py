"""What picscribe writes, read back by exiftool, the tool every photo manager
trusts: XMP sidecars (``--to sidecar``) and the image files themselves
(``--to file``, pixels unchanged, captions kept in the index).

exiftool is a system program (Debian: libimage-exiftool-perl). Where it is
missing these tests skip, unless PICSCRIBE_REQUIRE_EXIFTOOL=1 (set by
.ci/run, which installs it): there a missing program is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.cli import Run
from support.paths import SAMPLES

from picscribe.indexer.xmp_sidecar import parse_xmp_sidecar
from picscribe.store import DB_NAME, CaptionRecord, Store

if shutil.which("exiftool") is None:
    if os.environ.get("PICSCRIBE_REQUIRE_EXIFTOOL") == "1":
        raise RuntimeError("PICSCRIBE_REQUIRE_EXIFTOOL=1 but the exiftool program is not installed")
    pytest.skip("exiftool is not installed (apt-get install libimage-exiftool-perl)", allow_module_level=True)

SAMPLE_FILES = sorted(SAMPLES.glob("*.jpg"))[:3]
ALT_TEXT = "A red rowboat tied to a pier."
DETAILED = "A small red wooden rowboat floats in calm water, moored by a rope to a pier."


def exiftool(path: Path) -> dict:
    """Every tag exiftool reads in ``path``, grouped by family-1 group (XMP-dc:Description)."""
    out = subprocess.run(["exiftool", "-json", "-G1", "-struct", str(path)], capture_output=True, check=True).stdout
    (tags,) = json.loads(out)
    return tags


def _photos(root: Path) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(src, root / src.name)) for src in SAMPLE_FILES]


def _index(run: Run, folder: Path, captioner: str = "fake", *more: object) -> dict:
    result = run(*more, "index", folder, "--captioner", captioner, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _write(run: Run, *args: object) -> tuple[int, dict]:
    result = run("write-metadata", *args, "--json")
    assert "Traceback" not in result.output, result.output
    return result.exit_code, json.loads(result.stdout)


def _current(home: Path) -> dict[str, tuple[str, bool]]:
    with sqlite3.connect(home / DB_NAME) as db:
        found = db.execute(
            "SELECT i.path, c.text, c.human FROM images i JOIN current_captions cc ON cc.content_hash = i.content_hash"
            " JOIN captions c ON c.id = cc.caption_id"
        ).fetchall()
    return {path: (text, bool(human)) for path, text, human in found}


def _add_accessibility_text(home: Path, image: Path) -> None:
    """Alt text and a detailed description for ``image``, as a backend that makes them would store them."""
    with Store.open(home) as store:
        detail = store.image_detail(str(image))
        assert detail is not None and detail.current is not None
        content_hash = detail.content_hash
        assert content_hash is not None
        store.write_batch(
            captions=[
                CaptionRecord(content_hash, "fake", "fake-v1", task, text, np.zeros(0, dtype=np.float32))
                for task, text in (("alt_text", ALT_TEXT), ("detailed", DETAILED))
            ]
        )


def _pixels(path: Path) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(path) as img:
        img.load()
        return img.mode, img.size, img.tobytes()


def test_sidecars_read_back_identically_through_exiftool_and_picscribe(run: Run, tmp_path: Path, home: Path) -> None:
    photos = _photos(tmp_path / "photos")
    _index(run, photos[0].parent)
    _add_accessibility_text(home, photos[0])
    generated = _current(home)

    code, report = _write(run, "--to", "sidecar")
    assert code == 0 and len(report["written"]) == 3, report
    for photo in photos:
        sidecar = Path(f"{photo}.xmp")
        ours = parse_xmp_sidecar(sidecar.read_bytes(), str(sidecar))
        theirs = exiftool(sidecar)
        assert theirs["XMP-dc:Description"] == ours.description == generated[str(photo)][0]
        assert sorted(_as_list(theirs["XMP-dc:Subject"])) == sorted(ours.keywords) and ours.keywords
        assert theirs["XMP-picscribe:Captioner"] == "fake" and theirs["XMP-picscribe:Model"] == "fake-v1"
        assert theirs["XMP-picscribe:Generated"] in (True, "True")
        if photo == photos[0]:
            assert theirs["XMP-iptcExt:AltTextAccessibility"] == ours.alt_text == ALT_TEXT
            assert theirs["XMP-iptcExt:ExtDescrAccessibility"] == ours.extended_description == DETAILED

    # A fresh index imports them as a person's text, alt text included.
    fresh = tmp_path / "fresh"
    _index(run, photos[0].parent, "sidecar", "--home", fresh)
    assert _current(fresh) == {path: (text, True) for path, (text, _human) in generated.items()}


def _as_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


# Several exiftool runs per file: in the full suite, not the inner loop.
@pytest.mark.slow
def test_writing_into_files_keeps_pixels_and_captions(run: Run, tmp_path: Path, home: Path) -> None:
    photos = _photos(tmp_path / "photos")
    # One file already has IPTC (a newsroom's), so the caption goes there too; the others get none.
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-IPTC:Keywords=harbour", str(photos[1])], check=True)
    _index(run, photos[0].parent)
    _add_accessibility_text(home, photos[0])
    generated = _current(home)
    pixels = {p: _pixels(p) for p in photos}
    hashes = {p: p.read_bytes() for p in photos}

    code, report = _write(run, "--to", "file")
    assert code == 0, report
    assert sorted(report["written"]) == sorted(map(str, photos)) and report["failed"] == [] == report["skipped"]
    for photo in photos:
        assert photo.read_bytes() != hashes[photo] and _pixels(photo) == pixels[photo]
        tags = exiftool(photo)
        caption = generated[str(photo)][0]
        assert tags["XMP-dc:Description"] == tags["IFD0:ImageDescription"] == caption
        assert ("IPTC:Caption-Abstract" in tags) is (photo == photos[1])
        if photo == photos[1]:
            assert tags["IPTC:Caption-Abstract"] == caption and tags["IPTC:Keywords"] == "harbour"
        assert tags["XMP-picscribe:Captioner"] == "fake"
    assert exiftool(photos[0])["XMP-iptcExt:AltTextAccessibility"] == ALT_TEXT
    assert not list(photos[0].parent.glob("*.xmp")) and not list(photos[0].parent.glob(".*"))

    # The index moved with the bytes: nothing to caption, nothing lost.
    again = _index(run, photos[0].parent)
    assert (again["captioned"], again["unchanged"], again["kept"]) == (0, 3, 0), again
    assert _current(home) == generated
    code, report = _write(run, "--to", "file")
    assert code == 0 and sorted(report["unchanged"]) == sorted(map(str, photos)), report

    # A fresh index reading the files' own text gets the same words, as a person's.
    fresh = tmp_path / "fresh"
    _index(run, photos[0].parent, "sidecar", "--home", fresh)
    assert _current(fresh) == {path: (text, True) for path, (text, _human) in generated.items()}


# Several exiftool runs per file: in the full suite, not the inner loop.
@pytest.mark.slow
def test_someone_elses_description_in_the_file_is_left_alone(run: Run, tmp_path: Path, home: Path) -> None:
    photos = _photos(tmp_path / "photos")
    theirs = "Grandma's kitchen, summer 1998"
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", f"-EXIF:ImageDescription={theirs}", str(photos[0])], check=True
    )
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", f"-XMP-dc:Description={theirs}", str(photos[1])], check=True
    )
    _index(run, photos[0].parent)

    code, report = _write(run, "--to", "file")
    assert code == 0, report
    skipped = {(s["path"], s["reason"]) for s in report["skipped"]}
    assert (
        str(photos[0]),
        "EXIF ImageDescription holds text picscribe did not write; the caption is not written",
    ) in skipped
    assert (str(photos[1]), "dc:description holds text picscribe did not write") in skipped
    first, second = exiftool(photos[0]), exiftool(photos[1])
    assert first["IFD0:ImageDescription"] == theirs and "XMP-dc:Description" not in first
    assert second["XMP-dc:Description"] == theirs and "IFD0:ImageDescription" not in second
    # Their keywords and provenance still went in: only the description is theirs.
    assert first["XMP-dc:Subject"] and first["XMP-picscribe:Captioner"] == "fake"


# Several exiftool runs per file: in the full suite, not the inner loop.
@pytest.mark.slow
def test_png_is_written_bmp_is_refused_read_only_fails_alone(run: Run, tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    with Image.open(SAMPLE_FILES[0]) as img:
        img.save(folder / "a.png")
        img.save(folder / "b.bmp")
        img.save(folder / "c.jpg", quality=90)
        img.save(folder / "d.jpg", quality=80)
    locked_folder = folder / "locked"
    locked_folder.mkdir()
    shutil.copy2(SAMPLE_FILES[1], locked_folder / "e.jpg")
    _index(run, folder)
    (folder / "c.jpg").chmod(0o444)
    locked_folder.chmod(0o555)
    before = {p: p.read_bytes() for p in folder.rglob("*.*")}
    png_pixels = _pixels(folder / "a.png")
    try:
        code, report = _write(run, "--to", "file")
    finally:
        locked_folder.chmod(0o755)
    assert code == 1, report
    failed = {Path(f["path"]).name: f["error"] for f in report["failed"]}
    assert failed == {
        "b.bmp": "exiftool cannot write this file: Writing of BMP files is not yet supported; not touched",
        "c.jpg": "c.jpg is read-only; not touched",
        "e.jpg": "locked (the folder) is read-only; not touched",
    }
    assert sorted(Path(p).name for p in report["written"]) == ["a.png", "d.jpg"]  # the batch went on
    for path in (folder / "b.bmp", folder / "c.jpg", locked_folder / "e.jpg"):
        assert path.read_bytes() == before[path]
    assert _pixels(folder / "a.png") == png_pixels
    assert exiftool(folder / "a.png")["XMP-dc:Description"]
    again = _index(run, folder)
    assert again["captioned"] == 0, again


def test_dry_run_writes_no_file(run: Run, tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")
    _index(run, photos[0].parent)
    before = {p: p.read_bytes() for p in photos}
    code, report = _write(run, "--to", "file", "--dry-run")
    assert code == 0 and report["dry_run"] and len(report["written"]) == 3
    assert {p: p.read_bytes() for p in photos} == before
