"""`picscribe caption` on what a newcomer hands it: missing files, folders,
failures in --json, and OCR text (issue 22, item 11)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from support.cli import Run
from support.paths import SAMPLES

GOOD = sorted(SAMPLES.glob("*.jpg"))[0]


def test_a_missing_file_says_no_such_file_and_the_rest_go_on(run: Run, tmp_path: Path) -> None:
    missing = tmp_path / "nope.jpg"
    result = run("caption", str(missing), str(GOOD), "--captioner", "fake")
    assert result.exit_code == 1
    assert f"Error: {missing}: no such file" in result.stderr
    assert "disappeared" not in result.stderr
    assert str(GOOD) in result.stdout


def test_a_folder_is_a_usage_error(run: Run, tmp_path: Path) -> None:
    result = run("caption", str(tmp_path), "--captioner", "fake")
    assert result.exit_code == 2
    assert "is a directory" in result.stderr


def test_json_prints_an_error_object_for_each_failed_image(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_text("hello")
    missing = tmp_path / "gone.jpg"
    result = run("caption", str(bad), str(GOOD), str(missing), "--captioner", "fake", "--json")
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in rows] == [str(bad), str(GOOD), str(missing)]
    assert "not an image" in rows[0]["error"] and rows[0]["caption"] is None
    assert "error" not in rows[1] and rows[1]["caption"]
    assert rows[2]["error"] == "no such file"
    assert all(r["model"] == "fake-v1" for r in rows)


def _text_image(path: Path, lines: list[str]) -> None:
    image = Image.new("RGB", (900, 120 * max(1, len(lines)) + 60), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=64)
    for i, line in enumerate(lines):
        draw.text((40, 40 + 120 * i), line, fill="black", font=font)
    image.save(path)


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")
def test_ocr_indents_every_line_and_prints_nothing_without_text(run: Run, tmp_path: Path) -> None:
    sign = tmp_path / "sign.png"
    _text_image(sign, ["BOARD MEETING", "Tuesday at noon"])
    blank = tmp_path / "blank.png"
    _text_image(blank, [])
    result = run("caption", str(sign), str(blank), "--captioner", "offline:tesseract", "--task", "ocr")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == str(sign)
    assert len(lines) >= 3 and all(line.startswith("    ") for line in lines[1:]), lines
    assert "BOARD MEETING" in lines[1]
    assert str(blank) not in result.stdout
    assert f"{blank}: no text found" in result.stderr
