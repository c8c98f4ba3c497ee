"""File names and captions that hold terminal control sequences.

A name like ``ESC[2J`` clears the screen and ``ESC]0;...BEL`` sets the
window title when printed raw, even into a pipe (click strips colours, not
OSC). Human-readable output shows them escaped; ``--json`` keeps them exact.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.cli import Run
from support.paths import SAMPLES

from picscribe.cli._common import printable

CLEAR_SCREEN = "\x1b[2J"
SET_TITLE = "\x1b]0;pwned\x07"
# C1 CSI, a line separator and a right-to-left override: each changes what a terminal shows.
OTHER_CONTROLS = "\x9b\u2028\u202e"
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\u2028", "\u202e")


def _assert_no_raw_controls(text: str) -> None:
    for char in RAW_CONTROLS:
        assert char not in text, f"raw {char!r} in output: {text!r}"


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A folder with one good photo, one broken file and one sidecar-captioned
    photo, all with control sequences in their names (and the sidecar text)."""
    folder = tmp_path / "lib"
    folder.mkdir()
    samples = sorted(SAMPLES.glob("*.jpg"))
    good = folder / f"good{CLEAR_SCREEN}{SET_TITLE}{OTHER_CONTROLS}.jpg"
    shutil.copy2(samples[0], good)
    broken = folder / f"broken{CLEAR_SCREEN}{SET_TITLE}.jpg"
    broken.write_bytes(b"not a picture")
    return folder, good, broken


def test_printable_escapes_controls_and_keeps_text() -> None:
    assert printable(f"a{CLEAR_SCREEN}b{SET_TITLE}c") == "a\\x1b[2Jb\\x1b]0;pwned\\x07c"
    assert printable("\x7f\x85\u2028\u202e\u2066") == "\\x7f\\x85\\u2028\\u202e\\u2066"
    # A non-UTF-8 byte (a surrogate escape) shows as that byte, and is printable at all.
    assert printable("caf\udce9.jpg") == "caf\\xe9.jpg"
    assert printable("Photos/été 2024/cat 🐈.jpg") == "Photos/été 2024/cat 🐈.jpg"
    # A path cannot fake a line of output; a model's multi-line answer keeps its lines.
    assert printable("a.jpg\n  failed: b.jpg") == "a.jpg\\x0a  failed: b.jpg"
    assert printable(f"line one\n\tline two{CLEAR_SCREEN}", multiline=True) == "line one\n\tline two\\x1b[2J"


def test_index_status_and_search_never_print_raw_controls(run: Run, hostile: tuple[Path, Path, Path]) -> None:
    folder, good, broken = hostile
    indexed = run("index", str(folder), "--captioner", "fake")
    assert indexed.exit_code == 1, indexed.output  # the broken file failed
    _assert_no_raw_controls(indexed.output)
    assert printable(str(broken)) in indexed.stderr
    assert "\\x1b[2J" in indexed.stderr and "\\x1b]0;pwned\\x07" in indexed.stderr

    status = run("status")
    assert status.exit_code == 0, status.output
    _assert_no_raw_controls(status.output)
    assert printable(str(broken)) in status.stdout

    found = run("search", "picture")
    assert found.exit_code == 0, found.output
    _assert_no_raw_controls(found.output)
    assert printable(str(good)) in found.stdout


def test_json_keeps_the_exact_names(run: Run, hostile: tuple[Path, Path, Path]) -> None:
    folder, good, broken = hostile
    indexed = run("index", str(folder), "--captioner", "fake", "--json")
    _assert_no_raw_controls(indexed.stdout)
    report = json.loads(indexed.stdout)
    assert [f["path"] for f in report["failures"]] == [str(broken)]

    status = run("status", "--json")
    _assert_no_raw_controls(status.stdout)
    assert [f["path"] for f in json.loads(status.stdout)["failures"]] == [str(broken)]

    found = run("search", "picture", "--json")
    _assert_no_raw_controls(found.stdout)
    assert str(good) in [hit["path"] for hit in json.loads(found.stdout)]


def test_a_caption_with_controls_is_escaped_when_searched(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "lib"
    folder.mkdir()
    photo = folder / "beach.jpg"
    shutil.copy2(sorted(SAMPLES.glob("*.jpg"))[0], photo)
    caption = f"a sandy beach{CLEAR_SCREEN} at dusk{SET_TITLE}"
    (folder / "beach.txt").write_text(caption, encoding="utf-8")
    assert run("index", str(folder), "--captioner", "sidecar").exit_code == 0

    human = run("search", "sandy beach")
    _assert_no_raw_controls(human.output)
    assert "a sandy beach\\x1b[2J at dusk\\x1b]0;pwned\\x07" in human.stdout

    hits = json.loads(run("search", "sandy beach", "--json").stdout)
    assert hits[0]["caption"] == caption


def test_log_lines_are_escaped_too() -> None:
    import logging

    from picscribe.cli._common import PrintableFormatter

    record = logging.LogRecord("store", logging.WARNING, __file__, 1, "moved %s aside", (f"/idx{SET_TITLE}",), None)
    line = PrintableFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert line == "WARNING store: moved /idx\\x1b]0;pwned\\x07 aside"
