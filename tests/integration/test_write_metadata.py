"""picscribe write-metadata --to sidecar: the index's captions and tags merged into
``photo.jpg.xmp`` sidecars, read back by picscribe's own reader and sidecar
captioner; someone else's text, other namespaces and broken sidecars are left
exactly as they were."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from support.cli import Run
from support.paths import SAMPLES
from support.privileges import unprivileged

from picscribe.indexer.xmp_sidecar import parse_xmp_sidecar
from picscribe.store import DB_NAME

SAMPLE_FILES = sorted(SAMPLES.glob("*.jpg"))[:3]

# A sidecar someone's photo manager wrote: their description, their keywords,
# a namespace picscribe knows nothing of.
FOREIGN_XMP = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
   xmp:Rating="4">
   <dc:description>
    <rdf:Alt>
     <rdf:li xml:lang="x-default">Grandma's kitchen, summer 1998</rdf:li>
    </rdf:Alt>
   </dc:description>
   <dc:subject>
    <rdf:Bag>
     <rdf:li>family</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <digiKam:ColorLabel>3</digiKam:ColorLabel>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def _index(run: Run, folder: Path, *extra: str) -> None:
    result = run("index", folder, "--captioner", "fake", *extra)
    assert result.exit_code == 0, result.output


def _write(run: Run, *args: object) -> tuple[int, dict]:
    result = run("write-metadata", *args, "--json")
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def _photos(root: Path) -> Path:
    folder = root / "photos"
    folder.mkdir()
    for src in SAMPLE_FILES:
        shutil.copy2(src, folder / src.name)
    return folder


def _captions(home: Path) -> dict[str, tuple[str, bool, list[str]]]:
    """path -> (current caption, human, tags), straight from SQLite."""
    with sqlite3.connect(home / DB_NAME) as conn:
        rows = conn.execute(
            "SELECT i.path, c.text, c.human, c.id FROM images i"
            " JOIN current_captions cc ON cc.content_hash = i.content_hash JOIN captions c ON c.id = cc.caption_id"
        ).fetchall()
        return {
            path: (
                text,
                bool(human),
                [t for (t,) in conn.execute("SELECT label FROM tags WHERE caption_id = ? ORDER BY label", (cid,))],
            )
            for path, text, human, cid in rows
        }


def test_round_trip_through_the_reader_and_the_sidecar_captioner(run: Run, tmp_path: Path, home: Path) -> None:
    folder = _photos(tmp_path)
    _index(run, folder)
    generated = _captions(home)

    code, report = _write(run)
    assert code == 0
    sidecars = sorted(str(folder / f"{s.name}.xmp") for s in SAMPLE_FILES)
    assert sorted(report["written"]) == sidecars
    assert report["failed"] == [] and report["skipped"] == []
    for image in SAMPLE_FILES:
        path = folder / f"{image.name}.xmp"
        read = parse_xmp_sidecar(path.read_bytes(), str(path))
        text, human, tags = generated[str(folder / image.name)]
        assert not human and text
        assert read.description == text
        assert sorted(read.keywords) == tags and tags
        assert "<picscribe:generated>True</picscribe:generated>" in path.read_text()

    # A fresh index of the same folder, importing the sidecars: the same text, now a person's.
    fresh = tmp_path / "fresh-home"
    result = run("--home", fresh, "index", folder, "--captioner", "sidecar")
    assert result.exit_code == 0, result.output
    imported = _captions(fresh)
    for image_path, (text, _human, tags) in generated.items():
        assert imported[image_path][0] == text
        assert imported[image_path][1] is True
        assert set(tags) <= set(imported[image_path][2])

    # Written again from that index: the text is the same, so nothing changes.
    result = run("--home", fresh, "write-metadata", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(result.stdout)["unchanged"]) == sidecars


def test_a_second_run_is_unchanged_and_dry_run_writes_nothing(run: Run, tmp_path: Path) -> None:
    folder = _photos(tmp_path)
    _index(run, folder)
    code, dry = _write(run, "--dry-run")
    assert code == 0 and dry["dry_run"] is True and len(dry["written"]) == len(SAMPLE_FILES)
    assert list(folder.glob("*.xmp")) == []
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []  # no temp files left

    _, first = _write(run)
    assert sorted(first["written"]) == sorted(dry["written"])
    before = {p: p.read_bytes() for p in folder.glob("*.xmp")}
    _, second = _write(run)
    assert second["written"] == [] and sorted(second["unchanged"]) == sorted(first["written"])
    assert {p: p.read_bytes() for p in folder.glob("*.xmp")} == before


def test_someone_elses_description_is_skipped_and_keywords_merge(run: Run, tmp_path: Path, home: Path) -> None:
    folder = _photos(tmp_path)
    image = folder / SAMPLE_FILES[0].name
    sidecar = folder / f"{image.name}.xmp"
    sidecar.write_text(FOREIGN_XMP)
    sidecar.chmod(0o640)
    _index(run, folder)
    tags = _captions(home)[str(image)][2]

    code, report = _write(run, image)
    assert code == 0
    assert report["written"] == [str(sidecar)]  # the keywords were merged
    assert report["skipped"] == [{"path": str(sidecar), "reason": "dc:description holds text picscribe did not write"}]
    text = sidecar.read_text()
    read = parse_xmp_sidecar(sidecar.read_bytes(), str(sidecar))
    assert read.description == "Grandma's kitchen, summer 1998"
    assert '<rdf:li xml:lang="x-default">Grandma\'s kitchen, summer 1998</rdf:li>' in text
    assert read.keywords[0] == "family" and sorted(read.keywords[1:]) == tags
    # Every other namespace and field is kept, with its own prefix.
    assert 'xmp:Rating="4"' in text and "<digiKam:ColorLabel>3</digiKam:ColorLabel>" in text
    assert 'xmlns:digiKam="http://www.digikam.org/ns/1.0/"' in text
    assert 'x:xmptk="XMP Core 4.4.0-Exiv2"' in text
    assert sidecar.stat().st_mode & 0o777 == 0o640
    # Only the image asked for.
    assert sorted(p.name for p in folder.glob("*.xmp")) == [sidecar.name]

    # Still skipped on the next run, and still nothing else to do.
    _, again = _write(run, image)
    assert again["unchanged"] == [str(sidecar)] and again["skipped"] == report["skipped"]


def test_text_picscribe_wrote_may_be_updated_but_not_once_a_person_edits_it(
    run: Run, tmp_path: Path, home: Path
) -> None:
    folder = _photos(tmp_path)
    image = folder / SAMPLE_FILES[0].name
    sidecar = folder / f"{image.name}.xmp"
    _index(run, folder)
    _write(run, image)
    caption = _captions(home)[str(image)][0]

    # Picscribe's own earlier text (its hash recorded) is replaced by the index's text.
    sidecar.write_text(sidecar.read_text().replace(caption, "an older caption"))
    old = sidecar.read_text()
    old = old.replace(_hash_of(old), _sha("an older caption"))
    # ...and someone added a translation beside it, which must survive the update.
    old = old.replace(
        '<rdf:li xml:lang="x-default">',
        '<rdf:li xml:lang="nb-NO">En gammel tekst</rdf:li><rdf:li xml:lang="x-default">',
    )
    sidecar.write_text(old)
    _, report = _write(run, image)
    assert report["written"] == [str(sidecar)] and report["skipped"] == []
    assert parse_xmp_sidecar(sidecar.read_bytes(), str(sidecar)).description == caption
    assert '<rdf:li xml:lang="nb-NO">En gammel tekst</rdf:li>' in sidecar.read_text()

    # A person edits it in their photo manager: the hash no longer matches, so it stays.
    sidecar.write_text(sidecar.read_text().replace(caption, "my own words"))
    _, report = _write(run, image)
    assert report["skipped"] == [{"path": str(sidecar), "reason": "dc:description holds text picscribe did not write"}]
    assert parse_xmp_sidecar(sidecar.read_bytes(), str(sidecar)).description == "my own words"


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def _hash_of(xmp: str) -> str:
    return xmp.split("<picscribe:descriptionHash>")[1].split("<")[0]


def test_a_lightroom_sidecar_is_merged_into(run: Run, tmp_path: Path) -> None:
    folder = _photos(tmp_path)
    image = folder / SAMPLE_FILES[0].name
    lightroom = folder / f"{image.stem}.xmp"
    lightroom.write_text(FOREIGN_XMP)
    _index(run, folder)
    _, report = _write(run, image)
    assert report["written"] == [str(lightroom)]
    assert not (folder / f"{image.name}.xmp").exists()


@pytest.mark.parametrize(
    "content",
    [b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF", b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', b"not xml at all"],
    ids=["truncated", "dtd", "garbage"],
)
def test_a_corrupt_sidecar_is_reported_and_untouched(run: Run, tmp_path: Path, content: bytes) -> None:
    folder = _photos(tmp_path)
    broken = folder / f"{SAMPLE_FILES[0].name}.xmp"
    broken.write_bytes(content)
    _index(run, folder)
    code, report = _write(run)
    assert code == 1
    assert [f["path"] for f in report["failed"]] == [str(broken)]
    assert broken.name in report["failed"][0]["error"]
    assert broken.read_bytes() == content
    assert len(report["written"]) == len(SAMPLE_FILES) - 1  # the batch went on


def test_read_only_folder_and_file_fail_alone(run: Run, shared_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = shared_tmp / "home"
    monkeypatch.setenv("PICSCRIBE_HOME", str(home))
    library = shared_tmp / "library"
    library.mkdir()
    writable = _photos(library)
    locked = library / "locked"
    locked.mkdir()
    shutil.copy2(SAMPLE_FILES[0], locked / "a.jpg")
    shutil.copy2(SAMPLE_FILES[1], writable / "b.jpg")
    read_only_sidecar = writable / "b.jpg.xmp"
    read_only_sidecar.write_text(FOREIGN_XMP)
    _index(run, library)
    for p in [home, *home.rglob("*"), writable, *writable.iterdir()]:
        p.chmod(0o777 if p.is_dir() else 0o666)
    locked.chmod(0o555)
    read_only_sidecar.chmod(0o444)
    before = read_only_sidecar.read_bytes()

    with unprivileged():
        if os.access(locked, os.W_OK, effective_ids=True):  # pragma: no cover
            pytest.skip("file permissions are not enforced for this user")
        code, report = _write(run)
    assert code == 1, report
    assert sorted(f["path"] for f in report["failed"]) == [str(locked / "a.jpg.xmp"), str(read_only_sidecar)], report
    assert "read-only" in dict((f["path"], f["error"]) for f in report["failed"])[str(read_only_sidecar)]
    assert sorted(report["written"]) == sorted(str(writable / f"{s.name}.xmp") for s in SAMPLE_FILES)
    assert read_only_sidecar.read_bytes() == before
    assert list(locked.iterdir()) == [locked / "a.jpg"]


def test_to_file_without_exiftool_names_the_package(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _photos(tmp_path)
    _index(run, folder)
    before = {p: p.read_bytes() for p in folder.iterdir()}
    monkeypatch.setenv("PICSCRIBE_EXIFTOOL", str(tmp_path / "no-such-exiftool"))
    result = run("write-metadata", "--to", "file")
    assert result.exit_code == 1
    assert "exiftool is not installed" in result.output and "apt install libimage-exiftool-perl" in result.output
    assert "Traceback" not in result.output
    assert {p: p.read_bytes() for p in folder.iterdir()} == before


def test_fields_limit_what_is_written(run: Run, tmp_path: Path) -> None:
    folder = _photos(tmp_path)
    _index(run, folder)
    _, report = _write(run, "--fields", "tags")
    sidecar = Path(report["written"][0])
    read = parse_xmp_sidecar(sidecar.read_bytes(), str(sidecar))
    assert read.description == "" and read.keywords
    assert run("write-metadata", "--fields", "caption,colour").exit_code == 2


def test_human_text_is_written_marked_not_generated(run: Run, tmp_path: Path) -> None:
    folder = _photos(tmp_path)
    image = folder / SAMPLE_FILES[0].name
    (folder / f"{image.stem}.txt").write_text("Our dog asleep on the sofa\n")
    result = run("index", image, "--captioner", "sidecar")
    assert result.exit_code == 0, result.output
    _, report = _write(run)
    sidecar = folder / f"{image.name}.xmp"
    assert report["written"] == [str(sidecar)]
    text = sidecar.read_text()
    assert parse_xmp_sidecar(sidecar.read_bytes(), str(sidecar)).description == "Our dog asleep on the sofa"
    assert "<picscribe:generated>False</picscribe:generated>" in text
    assert "<picscribe:captioner>sidecar</picscribe:captioner>" in text
