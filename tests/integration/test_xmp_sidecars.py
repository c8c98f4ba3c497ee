"""XMP sidecar files (``photo.jpg.xmp``, ``photo.xmp``) read by the sidecar
captioner: description as human caption text, keywords as tags, alt text and
extended description for their tasks; hostile files fail only their image."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from support.cli import Run
from support.paths import SAMPLES

from picscribe.indexer.captioners.sidecar import SidecarCaptioner
from picscribe.indexer.captioning import CaptionResult, Tag
from picscribe.indexer.decode import load
from picscribe.indexer.scan import FileEntry
from picscribe.indexer.xmp_sidecar import MAX_XMP_SIDECAR_BYTES

# What digiKam (through Exiv2) writes: element form, language alternatives,
# keyword bags, the IPTC accessibility fields, a hierarchical keyword.
DIGIKAM_XMP = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
   xmp:Rating="4">
   <dc:description>
    <rdf:Alt>
     <rdf:li xml:lang="nb-NO">En robåt ved fyret</rdf:li>
     <rdf:li xml:lang="x-default">{description}</rdf:li>
    </rdf:Alt>
   </dc:description>
   <dc:title>
    <rdf:Alt><rdf:li xml:lang="x-default">Bergen harbour at dawn</rdf:li></rdf:Alt>
   </dc:title>
   <Iptc4xmpExt:AltTextAccessibility>
    <rdf:Alt><rdf:li xml:lang="x-default">Red rowboat tied to a pier below a white lighthouse.</rdf:li></rdf:Alt>
   </Iptc4xmpExt:AltTextAccessibility>
   <Iptc4xmpExt:ExtDescrAccessibility>
    <rdf:Alt>
     <rdf:li xml:lang="x-default">A small red wooden rowboat floats in calm water, moored by a rope.</rdf:li>
    </rdf:Alt>
   </Iptc4xmpExt:ExtDescrAccessibility>
   <dc:subject>
    <rdf:Bag><rdf:li>rowboat</rdf:li><rdf:li>lighthouse</rdf:li><rdf:li>Bergen</rdf:li></rdf:Bag>
   </dc:subject>
   <digiKam:TagsList>
    <rdf:Seq><rdf:li>Places/Norway/Bergen</rdf:li></rdf:Seq>
   </digiKam:TagsList>
   <lr:hierarchicalSubject>
    <rdf:Bag><rdf:li>Places|Norway|Bergen</rdf:li><rdf:li>Boats|quillwort</rdf:li></rdf:Bag>
   </lr:hierarchicalSubject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""

# What Lightroom writes for photo.xmp: an xpacket wrapper, several
# rdf:Description blocks, simple properties in attribute form. The
# description here is in the short attribute form that some tools use.
LIGHTROOM_XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0-c000 1.000000, 0000/00/00-00:00:00">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmp:CreatorTool="Adobe Photoshop Lightroom Classic 13.0 (Windows)"
    crs:Version="16.0" crs:Exposure2012="+0.35"/>
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    dc:description="{description}">
   <dc:subject>
    <rdf:Bag><rdf:li>zebra</rdf:li><rdf:li>savanna</rdf:li></rdf:Bag>
   </dc:subject>
   <lr:hierarchicalSubject>
    <rdf:Bag><rdf:li>Animals|Mammals|zebra</rdf:li><rdf:li>Trips|Kenya 2024|Masai Mara</rdf:li></rdf:Bag>
   </lr:hierarchicalSubject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" dc:description="&lol9;"/>
</rdf:RDF></x:xmpmeta>
"""

BOAT = "a red rowboat moored beside a white lighthouse pier"
ZEBRAS = "three zebras grazing in a golden savanna at sunset"


def digikam(description: str = BOAT) -> str:
    return DIGIKAM_XMP.format(description=description)


def lightroom(description: str = ZEBRAS) -> str:
    return LIGHTROOM_XMP.format(description=description)


def copy_sample(folder: Path, name: str, sample: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(sorted(SAMPLES.glob("*.jpg"))[sample], folder / name))


def caption_of(path: Path, task: str = "caption") -> CaptionResult:
    loaded = load(FileEntry(str(path), 0, 0), frozenset())
    assert loaded.image is not None
    (result,) = SidecarCaptioner().caption([loaded.image], task)
    return result


# -- what is read, and from where ---------------------------------------------


def test_digikam_sidecar_gives_human_caption_tags_and_fields(tmp_path: Path) -> None:
    photo = copy_sample(tmp_path, "harbour.jpg")
    sidecar = tmp_path / "harbour.jpg.xmp"
    sidecar.write_text(digikam(), encoding="utf-8")
    result = caption_of(photo)
    assert result.text == BOAT and result.human is True
    # dc:subject in file order, then the leaves of lr:hierarchicalSubject not already there.
    assert result.tags == (Tag("rowboat", 1.0), Tag("lighthouse", 1.0), Tag("Bergen", 1.0), Tag("quillwort", 1.0))
    assert result.extra == {
        "source": "xmp-sidecar",
        "xmp_sidecar": str(sidecar),
        "title": "Bergen harbour at dawn",
        "alt_text": "Red rowboat tied to a pier below a white lighthouse.",
        "extended_description": "A small red wooden rowboat floats in calm water, moored by a rope.",
    }


def test_lightroom_sidecar_attribute_form_and_several_descriptions(tmp_path: Path) -> None:
    photo = copy_sample(tmp_path, "IMG_0042.jpg")
    (tmp_path / "IMG_0042.xmp").write_text(lightroom(), encoding="utf-8")
    result = caption_of(photo)
    assert (result.text, result.human) == (ZEBRAS, True)
    assert [t.label for t in result.tags] == ["zebra", "savanna", "Masai Mara"]
    assert result.extra == {"source": "xmp-sidecar", "xmp_sidecar": str(tmp_path / "IMG_0042.xmp")}


def test_jpg_xmp_wins_over_stem_xmp_and_they_are_not_mixed(tmp_path: Path) -> None:
    photo = copy_sample(tmp_path, "photo.jpg")
    (tmp_path / "photo.xmp").write_text(lightroom("from the lightroom sidecar"), encoding="utf-8")
    assert caption_of(photo).text == "from the lightroom sidecar"
    (tmp_path / "photo.jpg.xmp").write_text(digikam("from the digikam sidecar"), encoding="utf-8")
    result = caption_of(photo)
    assert result.text == "from the digikam sidecar"
    assert "zebra" not in {t.label for t in result.tags}


def test_precedence_caption_file_then_xmp_sidecar_then_embedded(tmp_path: Path) -> None:
    # Embedded text: EXIF ImageDescription written into the JPEG itself.
    with Image.open(sorted(SAMPLES.glob("*.jpg"))[0]) as im:
        exif = Image.Exif()
        exif[0x010E] = "from the embedded exif"
        photo = tmp_path / "p.jpg"
        im.convert("RGB").save(photo, "JPEG", exif=exif)
    assert (caption_of(photo).text, caption_of(photo).extra) == ("from the embedded exif", {"source": "exif"})
    (tmp_path / "p.jpg.xmp").write_text(digikam("from the xmp sidecar"), encoding="utf-8")
    assert caption_of(photo).text == "from the xmp sidecar"
    (tmp_path / "p.txt").write_text("from the caption file\n", encoding="utf-8")
    result = caption_of(photo)
    assert result.text == "from the caption file" and result.extra["source"] == "sidecar-file"
    # The sidecar's keywords still tag the image when the text came from elsewhere.
    assert "rowboat" in {t.label for t in result.tags}


def test_sidecar_without_description_falls_back_to_embedded_then_alt_text(tmp_path: Path) -> None:
    photo = copy_sample(tmp_path, "a.jpg")
    no_description = digikam().split("<dc:description>")[0] + digikam().split("</dc:description>")[1]
    (tmp_path / "a.jpg.xmp").write_text(no_description, encoding="utf-8")
    result = caption_of(photo)
    assert result.text == "Red rowboat tied to a pier below a white lighthouse."
    assert result.extra["source"] == "xmp-sidecar" and result.human is True


def test_keywords_only_sidecar_says_where_it_looked(tmp_path: Path) -> None:
    photo = copy_sample(tmp_path, "k.jpg")
    (tmp_path / "k.xmp").write_text(lightroom().replace(f'dc:description="{ZEBRAS}"', ""), encoding="utf-8")
    with pytest.raises(ValueError) as err:
        caption_of(photo)
    assert str(err.value) == (
        "no caption found: no k.txt/k.caption/k.jpg.txt, no dc:description in k.xmp, "
        "no XMP dc:description, IPTC Caption-Abstract or EXIF ImageDescription"
    )


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("alt_text", "Red rowboat tied to a pier below a white lighthouse."),
        ("detailed", "A small red wooden rowboat floats in calm water, moored by a rope."),
    ],
)
def test_accessibility_tasks_come_from_the_sidecar(run: Run, tmp_path: Path, task: str, expected: str) -> None:
    photo = copy_sample(tmp_path, "harbour.jpg")
    (tmp_path / "harbour.jpg.xmp").write_text(digikam(), encoding="utf-8")
    bare = copy_sample(tmp_path, "bare.jpg", sample=1)
    (tmp_path / "bare.xmp").write_text(lightroom(), encoding="utf-8")
    result = run("caption", str(photo), str(bare), "--captioner", "sidecar", "--task", task, "--json")
    assert result.exit_code == 1, result.stderr
    out, failed = (json.loads(line) for line in result.stdout.splitlines())
    assert (out["caption"], out["task"]) == (expected, task)
    field = "AltTextAccessibility" if task == "alt_text" else "ExtDescrAccessibility"
    assert f"no Iptc4xmpExt:{field} in bare.xmp" in result.stderr
    assert (failed["path"], failed["caption"]) == (str(bare), None) and "bare.xmp" in failed["error"]


# -- hostile and broken sidecars ----------------------------------------------


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (BILLION_LAUGHS.encode(), "declares a DTD or entities"),
        # The same trick in UTF-16, where a byte search for "<!DOCTYPE" finds nothing.
        (BILLION_LAUGHS.replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16"), "declares a DTD"),
        (b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><x>&xxe;</x>', "declares a DTD"),
        (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF", "is not valid XML"),
        (b"\x89PNG\r\n\x1a\n not a sidecar at all", "is not valid XML"),
        (b"<html><body>saved web page</body></html>", "is XML but not XMP"),
        (b" " * (MAX_XMP_SIDECAR_BYTES + 1), "is over 4 MiB"),
    ],
)
def test_hostile_or_broken_sidecar_fails_naming_the_file(tmp_path: Path, content: bytes, cause: str) -> None:
    photo = copy_sample(tmp_path, "h.jpg")
    (tmp_path / "h.jpg.xmp").write_bytes(content)
    (tmp_path / "h.txt").write_text("a caption file that is not enough to hide a broken sidecar", encoding="utf-8")
    with pytest.raises(ValueError) as err:
        caption_of(photo)
    assert str(err.value).startswith("h.jpg.xmp ") and cause in str(err.value)


# -- end to end, through the CLI ----------------------------------------------


def test_cli_index_search_tags_and_per_file_errors(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "library"
    harbour = copy_sample(folder, "harbour.jpg", sample=0)
    (folder / "harbour.jpg.xmp").write_text(digikam(), encoding="utf-8")
    meadow = copy_sample(folder, "IMG_0042.jpg", sample=1)
    (folder / "IMG_0042.xmp").write_text(lightroom(), encoding="utf-8")
    broken = copy_sample(folder, "broken.jpg", sample=2)
    (folder / "broken.jpg.xmp").write_text(digikam()[:300], encoding="utf-8")
    bomb = copy_sample(folder, "bomb.jpg", sample=3)
    (folder / "bomb.xmp").write_text(BILLION_LAUGHS, encoding="utf-8")

    result = run("index", str(folder), "--captioner", "sidecar", "--json")
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert (report["captioned"], report["failed"]) == (2, 2)
    errors = {f["path"]: f["error"] for f in report["failures"]}
    assert set(errors) == {str(broken), str(bomb)}
    assert "broken.jpg.xmp is not valid XML" in errors[str(broken)]
    assert "bomb.xmp declares a DTD or entities" in errors[str(bomb)]

    for query, photo, text in [("rowboat lighthouse pier", harbour, BOAT), ("zebras savanna", meadow, ZEBRAS)]:
        hits = json.loads(run("search", query, "--json").stdout)
        assert hits and hits[0]["path"] == str(photo), hits
        assert (hits[0]["caption"], hits[0]["human"]) == (text, True)
        assert hits[0]["captioner"] == "sidecar"

    # Keywords are searchable although the caption does not say them:
    # "quillwort" is only a leaf of lr:hierarchicalSubject, "Masai Mara" only one of a path.
    for keyword, photo in [("quillwort", harbour), ("Masai Mara", meadow), ("Bergen", harbour)]:
        hits = json.loads(run("search", keyword, "--json").stdout)
        assert hits and hits[0]["path"] == str(photo), (keyword, hits)
        assert keyword in hits[0]["tags"]
