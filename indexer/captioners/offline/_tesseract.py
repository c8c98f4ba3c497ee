"""Read text with the Tesseract command-line program (Debian: tesseract-ocr).

An alternative to RapidOCR for documents and scans, where Tesseract keeps
word spacing better. It runs as a subprocess, so it needs no Python binding
and a crash or hang cannot take the indexer with it.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess

from PIL import Image

#: Words Tesseract is less sure of than this (0-100) are mostly noise.
MIN_WORD_CONFIDENCE = 60.0
#: One image must not stall a batch forever.
TIMEOUT_S = 60
INSTALL_HINT = "install Tesseract: apt-get install tesseract-ocr tesseract-ocr-eng (or your OS's package)"


def unavailable() -> str | None:
    return None if shutil.which("tesseract") else f"the tesseract program is not on PATH; {INSTALL_HINT}"


@functools.cache
def version() -> str:
    out = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, timeout=TIMEOUT_S)
    first = (out.stdout or out.stderr).split()
    return first[1] if len(first) > 1 else "unknown"


def read_text(image: Image.Image, language: str = "eng") -> str:
    """Confident words of an RGB image, one line of text per line, in reading order."""
    png = io.BytesIO()
    image.convert("RGB").save(png, format="PNG")
    proc = subprocess.run(
        ["tesseract", "stdin", "stdout", "-l", language, "tsv"],
        input=png.getvalue(),
        capture_output=True,
        timeout=TIMEOUT_S,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"tesseract failed: {proc.stderr.decode(errors='replace').strip()[:200]}")
    return _lines_from_tsv(proc.stdout.decode("utf-8", errors="replace"))


def _lines_from_tsv(tsv: str) -> str:
    """Group confident words by (block, paragraph, line), keeping Tesseract's order."""
    lines: dict[tuple[str, str, str], list[str]] = {}
    rows = tsv.splitlines()
    for row in rows[1:]:  # the first row is the header
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5":  # level 5 = word
            continue
        try:
            confidence = float(cols[10])
        except ValueError:
            continue
        word = cols[11].strip()
        if word and confidence >= MIN_WORD_CONFIDENCE:
            lines.setdefault((cols[2], cols[3], cols[4]), []).append(word)
    return "\n".join(" ".join(words) for words in lines.values())
