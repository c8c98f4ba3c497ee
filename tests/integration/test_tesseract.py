"""Tesseract as the offline captioner's OCR engine (`--captioner offline:tesseract`).

Tesseract is a system program. Where it is missing these tests skip, unless
PICSCRIBE_REQUIRE_TESSERACT=1 (set by .ci/run, which installs it): there a
missing program is a failure, so CI cannot pass by skipping them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from support.cli import Run

if shutil.which("tesseract") is None:
    if os.environ.get("PICSCRIBE_REQUIRE_TESSERACT") == "1":
        raise RuntimeError("PICSCRIBE_REQUIRE_TESSERACT=1 but the tesseract program is not installed")
    pytest.skip("tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-eng)", allow_module_level=True)


def _document(path: Path, lines: list[str]) -> Path:
    image = Image.new("RGB", (900, 120 + 90 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=56)
    for i, line in enumerate(lines):
        draw.text((40, 50 + 90 * i), line, fill="black", font=font)
    image.save(path)
    return path


def test_tesseract_reads_lines_with_their_spaces(tmp_path: Path) -> None:
    from picscribe.indexer.captioners.offline import _tesseract

    image = Image.open(_document(tmp_path / "doc.png", ["QUARTERLY REPORT", "Harbour Street 42"]))
    assert _tesseract.read_text(image).splitlines() == ["QUARTERLY REPORT", "Harbour Street 42"]


def test_tsv_parsing_drops_unsure_words_and_keeps_lines() -> None:
    from picscribe.indexer.captioners.offline._tesseract import _lines_from_tsv

    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "5\t1\t1\t1\t1\t1\t0\t0\t1\t1\t96.0\tHello",
        "5\t1\t1\t1\t1\t2\t0\t0\t1\t1\t12.5\t~~",
        "5\t1\t1\t1\t1\t3\t0\t0\t1\t1\t91.0\tworld",
        "4\t1\t1\t1\t2\t0\t0\t0\t1\t1\t-1\t",
        "5\t1\t1\t1\t2\t1\t0\t0\t1\t1\t88.0\tagain",
    ]
    assert _lines_from_tsv("\n".join([header, *rows])) == "Hello world\nagain"


def test_offline_tesseract_through_the_cli(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    _document(folder / "memo.png", ["BOARD MEETING", "Tuesday at noon"])
    result = run("index", str(folder), "--captioner", "offline:tesseract", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["model_id"].startswith("v6:centernet+mtcnn+efficientnet-lite0+tesseract-")
    hits = json.loads(run("search", "board meeting", "--json").stdout)
    assert hits[0]["path"] == str(folder / "memo.png")
    assert "BOARD MEETING" in hits[0]["ocr_text"]


def test_missing_tesseract_is_a_clear_error(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract here
    image = _document(tmp_path / "doc.png", ["X"])
    result = run("caption", str(image), "--captioner", "offline:tesseract")
    assert result.exit_code == 1
    assert "tesseract" in result.stderr and "apt-get install tesseract-ocr" in result.stderr
    assert "Traceback" not in result.output
