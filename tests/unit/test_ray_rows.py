"""The rows the Ray engine's driver and workers exchange, back into the pipeline's types (no Ray needed)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from picscribe.indexer.captioning import CaptionerStopped, CaptionResult, ObjectCount, Tag
from picscribe.indexer.decode import EMBEDDED_DESCRIPTION, SOURCE_PATH, DecodeError, Loaded
from picscribe.indexer.ray_engine._rows import (
    RemoteLoaded,
    captioned_row,
    decoded_row,
    failed_row,
    image_from_row,
    remote_exception,
    result_from_row,
    sent_entry,
    sent_row,
)
from picscribe.indexer.scan import FileEntry

ENTRY = FileEntry("/photos/ü a.jpg", 1234, 5678)


def _decoded() -> Loaded:
    img = Image.new("RGB", (3, 2), (10, 20, 30))
    img.putpixel((2, 1), (200, 100, 0))
    img.info[EMBEDDED_DESCRIPTION] = {"xmp": "a note"}
    entry = FileEntry(ENTRY.path, 1300, 9999)
    return Loaded(entry, "h" * 64, img, 300, 200, "JPEG", "2020-01-02 03:04:05", "px1:ab", b"\x01" * 8)


def test_pixels_and_metadata_reach_the_captioner_as_decoded():
    loaded = _decoded()
    row = decoded_row(sent_row(Loaded(ENTRY, "h" * 64, None, 0, 0, "", None)), loaded)
    img = image_from_row(row)
    assert img.mode == "RGB" and img.size == (3, 2)
    assert img.tobytes() == loaded.image.tobytes()  # type: ignore[union-attr]
    assert img.info[SOURCE_PATH] == ENTRY.path
    assert img.info[EMBEDDED_DESCRIPTION] == {"xmp": "a note"}
    # What the worker read, not what the driver's scan saw.
    assert sent_entry(row) == FileEntry(ENTRY.path, 1300, 9999)


def test_a_caption_comes_back_whole_without_pixels():
    loaded = _decoded()
    read = decoded_row(sent_row(loaded), loaded)
    caption = CaptionResult(
        "A dog.", tags=(Tag("dog", 0.75),), objects=(ObjectCount("dog", 2, 0.5),), ocr_text="STOP", human=True
    )
    vector = np.array([0.6, 0.8], dtype=np.float32)
    row = captioned_row(read, "fake-v1", caption, vector)
    assert "pixels" not in row and row["model_id"] == "fake-v1"
    result = result_from_row(row)
    assert isinstance(result, RemoteLoaded)
    assert result.outcome == caption
    assert result.vector is not None and np.array_equal(result.vector, vector)
    assert (result.content_hash, result.width, result.height, result.format) == ("h" * 64, 300, 200, "JPEG")
    assert result.taken_at == "2020-01-02 03:04:05" and result.image is None
    # The picture hash of the duplicates tiers travels back with the row (issue 21).
    assert result.picture_hash == b"\x01" * 8


def test_a_workers_exception_reads_as_the_local_engine_words_it():
    loaded = _decoded()
    row = captioned_row(decoded_row(sent_row(loaded), loaded), "m", ValueError("bad pixels"), None)
    result = result_from_row(row)
    assert isinstance(result, RemoteLoaded) and result.vector is None
    assert f"{type(result.outcome).__name__}: {result.outcome}" == "ValueError: bad pixels"
    assert isinstance(remote_exception("CaptionerStopped", "budget spent"), CaptionerStopped)
    assert type(remote_exception("not a name!", "x")).__name__ == "RemoteError"


def test_a_file_that_failed_to_decode_keeps_its_reason():
    row = captioned_row(failed_row(sent_row(_decoded()), "empty file (0 bytes)"), "m", None, None)
    result = result_from_row(row)
    assert isinstance(result, DecodeError) and str(result) == "empty file (0 bytes)"
