"""The sidecar captioner: captions people already wrote, next to the image
(kohya .txt/.caption) or inside it (XMP, IPTC, EXIF), imported as human text."""

from __future__ import annotations

import io
import json
import shutil
import struct
from pathlib import Path

import pytest
from PIL import Image
from support.cli import Run
from support.paths import SAMPLES

from picscribe.indexer.captioners.sidecar import SidecarCaptioner
from picscribe.indexer.captioning import CaptionResult
from picscribe.indexer.decode import EMBEDDED_DESCRIPTION, SOURCE_PATH, load
from picscribe.indexer.registry import create
from picscribe.indexer.scan import FileEntry

NO_CAPTION = (
    "no caption found: no {stem}.txt/{stem}.caption/{stem}.jpg.txt, no {stem}.jpg.xmp/{stem}.xmp, "
    "no XMP dc:description, IPTC Caption-Abstract or EXIF ImageDescription"
)

# -- writing metadata into test JPEGs ----------------------------------------


def xmp_packet(*entries: tuple[str, str]) -> bytes:
    """An XMP packet whose dc:description has one rdf:li per (lang, text)."""
    items = "".join(f'<rdf:li xml:lang="{lang}">{text}</rdf:li>' for lang, text in entries)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:description><rdf:Alt>{items}</rdf:Alt></dc:description>"
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def iptc_app13(caption: bytes, *, utf8: bool = True) -> bytes:
    """A JPEG APP13 segment: Photoshop 3.0 IRB holding IPTC 2:120 (and 1:90)."""

    def dataset(record: int, tag: int, value: bytes) -> bytes:
        return b"\x1c" + bytes([record, tag]) + struct.pack(">H", len(value)) + value

    iptc = (dataset(1, 90, b"\x1b%G") if utf8 else b"") + dataset(2, 0, b"\x00\x04") + dataset(2, 120, caption)
    if len(iptc) % 2:
        iptc += b"\x00"
    irb = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    payload = b"Photoshop 3.0\x00" + irb
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def write_jpeg(
    path: Path,
    *,
    xmp: bytes | None = None,
    iptc: bytes | None = None,
    exif_description: str | bytes | None = None,
    sample: int = 0,
) -> Path:
    src = sorted(SAMPLES.glob("*.jpg"))[sample]
    with Image.open(src) as im:
        rgb = im.convert("RGB")
    kwargs: dict[str, object] = {"quality": 85}
    if xmp is not None:
        kwargs["xmp"] = xmp
    if exif_description is not None:
        exif = Image.Exif()
        exif[0x010E] = exif_description
        kwargs["exif"] = exif
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", **kwargs)
    data = buf.getvalue()
    if iptc is not None:
        data = data[:2] + iptc_app13(iptc) + data[2:]  # right after SOI
    path.write_bytes(data)
    return path


def decoded(path: Path) -> Image.Image:
    loaded = load(FileEntry(str(path), 0, 0), frozenset())
    assert loaded.image is not None
    return loaded.image


def caption_of(path: Path) -> CaptionResult:
    (result,) = SidecarCaptioner().caption([decoded(path)])
    return result


@pytest.fixture
def jpg(tmp_path: Path) -> Path:
    folder = tmp_path / "lib"
    folder.mkdir()
    photo = folder / "photo.jpg"
    shutil.copy2(sorted(SAMPLES.glob("*.jpg"))[0], photo)
    return photo


# -- the backend contract ----------------------------------------------------


def test_registered_by_entry_point_with_its_capabilities() -> None:
    captioner = create("sidecar")
    assert isinstance(captioner, SidecarCaptioner)
    assert captioner.name == "sidecar" and captioner.tasks == frozenset({"caption", "detailed", "alt_text"})
    assert captioner.model_id == "sidecar-v1" and SidecarCaptioner.available() is None
    with pytest.raises(ValueError, match="imports captions, alt text and detailed descriptions, not 'ocr'"):
        captioner.caption([], "ocr")


def test_a_model_name_is_a_usage_error(run: Run, jpg: Path) -> None:
    result = run("caption", str(jpg), "--captioner", "sidecar:large")
    assert result.exit_code == 2 and "has no models to choose from" in result.stderr


# -- caption files next to the image -----------------------------------------


@pytest.mark.parametrize("name", ["photo.txt", "photo.caption", "photo.jpg.txt"])
def test_caption_file_next_to_the_image(jpg: Path, name: str) -> None:
    (jpg.parent / name).write_text("  a dog asleep on a red sofa\n\n", encoding="utf-8")
    result = caption_of(jpg)
    assert result.text == "a dog asleep on a red sofa"
    assert result.human is True and result.extra == {"source": "sidecar-file"}


def test_txt_is_preferred_over_caption_over_jpg_txt(jpg: Path) -> None:
    (jpg.parent / "photo.jpg.txt").write_text("third", encoding="utf-8")
    (jpg.parent / "photo.caption").write_text("second", encoding="utf-8")
    assert caption_of(jpg).text == "second"
    (jpg.parent / "photo.txt").write_text("first", encoding="utf-8")
    assert caption_of(jpg).text == "first"


def test_utf8_bom_is_dropped_and_non_ascii_kept(jpg: Path) -> None:
    (jpg.parent / "photo.txt").write_bytes("\ufeffcrème brûlée on a café table".encode("utf-8"))
    assert caption_of(jpg).text == "crème brûlée on a café table"


def test_empty_or_blank_file_counts_as_absent(jpg: Path) -> None:
    (jpg.parent / "photo.txt").write_bytes(b"")
    (jpg.parent / "photo.caption").write_bytes(b"\xef\xbb\xbf  \n")
    (jpg.parent / "photo.jpg.txt").write_text("the fallback file", encoding="utf-8")
    assert caption_of(jpg).text == "the fallback file"
    (jpg.parent / "photo.jpg.txt").write_text("", encoding="utf-8")
    with pytest.raises(ValueError) as err:
        caption_of(jpg)
    assert str(err.value) == NO_CAPTION.format(stem="photo")


def test_caption_file_wins_over_embedded_text(tmp_path: Path) -> None:
    img = write_jpeg(tmp_path / "both.jpg", xmp=xmp_packet(("x-default", "from xmp")))
    (tmp_path / "both.txt").write_text("from the file", encoding="utf-8")
    assert caption_of(img).extra == {"source": "sidecar-file"}


# -- text embedded in the image ----------------------------------------------


def test_xmp_dc_description_x_default_entry(tmp_path: Path) -> None:
    packet = xmp_packet(("de", "Ein Leuchtturm im Nebel"), ("x-default", "A lighthouse in fog"))
    result = caption_of(write_jpeg(tmp_path / "x.jpg", xmp=packet))
    assert result.text == "A lighthouse in fog"
    assert result.human and result.extra == {"source": "xmp"}


def test_xmp_without_x_default_takes_the_first_entry(tmp_path: Path) -> None:
    packet = xmp_packet(("de", "Ein Leuchtturm"), ("fr", "Un phare"))
    assert caption_of(write_jpeg(tmp_path / "x.jpg", xmp=packet)).text == "Ein Leuchtturm"


def test_iptc_caption_abstract(tmp_path: Path) -> None:
    img = write_jpeg(tmp_path / "i.jpg", iptc="Zwei Möwen über dem Hafen".encode())
    result = caption_of(img)
    assert result.text == "Zwei Möwen über dem Hafen"
    assert result.human and result.extra == {"source": "iptc"}


def test_iptc_in_latin1_is_decoded(tmp_path: Path) -> None:
    img = tmp_path / "l.jpg"
    data = write_jpeg(img).read_bytes()
    img.write_bytes(data[:2] + iptc_app13("Möwen".encode("latin-1"), utf8=False) + data[2:])
    assert caption_of(img).text == "Möwen"


def test_exif_image_description(tmp_path: Path) -> None:
    result = caption_of(write_jpeg(tmp_path / "e.jpg", exif_description="A tram crossing a bridge"))
    assert result.text == "A tram crossing a bridge"
    assert result.human and result.extra == {"source": "exif"}


def test_exif_image_description_in_utf8(tmp_path: Path) -> None:
    img = write_jpeg(tmp_path / "e.jpg", exif_description="Straßenbahn auf der Brücke".encode())
    assert caption_of(img).text == "Straßenbahn auf der Brücke"


def test_camera_default_exif_text_is_not_a_caption(tmp_path: Path) -> None:
    img = write_jpeg(tmp_path / "cam.jpg", exif_description="OLYMPUS DIGITAL CAMERA         ")
    with pytest.raises(ValueError, match="ignored camera default text: EXIF ImageDescription"):
        caption_of(img)


def test_preference_order_xmp_then_iptc_then_exif(tmp_path: Path) -> None:
    all_three = write_jpeg(
        tmp_path / "a.jpg",
        xmp=xmp_packet(("x-default", "xmp text")),
        iptc=b"iptc text",
        exif_description="exif text",
    )
    assert (caption_of(all_three).text, caption_of(all_three).extra["source"]) == ("xmp text", "xmp")
    two = write_jpeg(tmp_path / "b.jpg", iptc=b"iptc text", exif_description="exif text")
    assert (caption_of(two).text, caption_of(two).extra["source"]) == ("iptc text", "iptc")


def test_decoder_attaches_path_and_embedded_text(tmp_path: Path) -> None:
    img = write_jpeg(
        tmp_path / "m.jpg", xmp=xmp_packet(("x-default", "xmp text")), iptc=b"iptc text", exif_description="exif text"
    )
    image = decoded(img)
    assert image.mode == "RGB"
    assert image.info[SOURCE_PATH] == str(img)
    assert image.info[EMBEDDED_DESCRIPTION] == {"xmp": "xmp text", "iptc": "iptc text", "exif": "exif text"}
    assert decoded(write_jpeg(tmp_path / "plain.jpg")).info[EMBEDDED_DESCRIPTION] == {}


def test_transparent_png_keeps_the_keys_and_its_xmp(tmp_path: Path) -> None:
    # RGBA goes through a fresh white background image, which has no info.
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()
    meta.add_itxt("XML:com.adobe.xmp", xmp_packet(("x-default", "a logo on glass")).decode("utf-8"))
    path = tmp_path / "t.png"
    Image.new("RGBA", (40, 30), (255, 0, 0, 128)).save(path, pnginfo=meta)
    result = caption_of(path)
    assert (result.text, result.extra) == ("a logo on glass", {"source": "xmp"})


@pytest.mark.parametrize(
    "packet",
    [
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><unclosed>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
        b"\x00\xff\xfe garbage",
    ],
)
def test_bad_xmp_never_fails_the_decode(tmp_path: Path, packet: bytes) -> None:
    img = write_jpeg(tmp_path / "bad.jpg", xmp=packet, exif_description="still found")
    assert decoded(img).info[EMBEDDED_DESCRIPTION] == {"exif": "still found"}


def test_works_on_an_image_opened_directly(tmp_path: Path) -> None:
    img = write_jpeg(tmp_path / "d.jpg", iptc=b"opened by hand")
    with Image.open(img) as im:
        (result,) = SidecarCaptioner().caption([im])
    assert result.text == "opened by hand"


# -- end to end, through the CLI ---------------------------------------------


@pytest.fixture
def library(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "library"
    folder.mkdir()
    harbour = shutil.copy2(sorted(SAMPLES.glob("*.jpg"))[0], folder / "harbour.jpg")
    (folder / "harbour.txt").write_text("a wooden rowboat moored beside a lighthouse pier\n", encoding="utf-8")
    meadow = write_jpeg(
        folder / "meadow.jpg", xmp=xmp_packet(("x-default", "three zebras grazing in a golden savanna")), sample=1
    )
    bare = shutil.copy2(sorted(SAMPLES.glob("*.jpg"))[2], folder / "bare.jpg")
    return {"harbour": Path(harbour), "meadow": meadow, "bare": Path(bare)}


def _top_hit(run: Run, query: str) -> dict:
    result = run("search", query, "--json")
    assert result.exit_code == 0, result.stderr
    hits = json.loads(result.stdout)
    assert hits, f"no hits for {query!r}"
    return hits[0]


def test_cli_index_search_and_human_text_survives_reindex(run: Run, library: dict[str, Path]) -> None:
    result = run("index", str(library["harbour"].parent), "--captioner", "sidecar", "--json")
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["captioned"] == 2 and report["failed"] == 1
    assert len(report["failures"]) == 1
    failure = report["failures"][0]
    assert failure["path"] == str(library["bare"])
    assert failure["error"].endswith(NO_CAPTION.format(stem="bare")), failure["error"]

    rowboat = _top_hit(run, "wooden rowboat lighthouse pier")
    zebras = _top_hit(run, "zebras grazing savanna")
    assert rowboat["path"] == str(library["harbour"])
    assert rowboat["caption"] == "a wooden rowboat moored beside a lighthouse pier"
    assert zebras["path"] == str(library["meadow"])
    assert zebras["caption"] == "three zebras grazing in a golden savanna"
    assert rowboat["human"] is True and zebras["human"] is True
    assert rowboat["captioner"] == "sidecar" and rowboat["model"] == "sidecar-v1"

    # Generated captions go in next to the human ones, and never replace them.
    result = run("reindex", "--captioner", "fake", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["captioned"] == 2
    for query, key, text in [
        ("wooden rowboat lighthouse pier", "harbour", "a wooden rowboat moored beside a lighthouse pier"),
        ("zebras grazing savanna", "meadow", "three zebras grazing in a golden savanna"),
    ]:
        hit = _top_hit(run, query)
        assert (hit["path"], hit["caption"], hit["human"]) == (str(library[key]), text, True)


def test_cli_caption_command_uses_sidecar(run: Run, library: dict[str, Path]) -> None:
    result = run("caption", str(library["harbour"]), str(library["bare"]), "--captioner", "sidecar", "--json")
    assert result.exit_code == 1
    out, failed = (json.loads(line) for line in result.stdout.splitlines())
    assert out["caption"] == "a wooden rowboat moored beside a lighthouse pier" and out["model"] == "sidecar-v1"
    assert NO_CAPTION.format(stem="bare") in result.stderr
    assert failed["path"] == str(library["bare"]) and failed["caption"] is None
    assert NO_CAPTION.format(stem="bare") in failed["error"]
