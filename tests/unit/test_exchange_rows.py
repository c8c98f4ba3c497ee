"""The checks an imported row must pass, and --map-path's folder rule (no index on disk)."""

from __future__ import annotations

import numpy as np
import pytest

from picscribe.exchange._import import _under
from picscribe.exchange._schema import BadRow, from_plain

ROW = {
    "path": "/photos/a.jpg",
    "sha256": "ab" * 32,
    "caption": "A dog on a sofa.",
    "model": "fake-v1",
    "captioner": "fake",
    "size": 10,
    "mtime_ns": 20,
    "width": 640,
    "height": 480,
    "format": "JPEG",
}


def test_a_minimal_row_gets_defaults():
    row = from_plain(ROW)
    assert row.image.path == "/photos/a.jpg" and row.image.taken_at is None
    assert (row.caption.task, row.caption.human, row.caption.ocr_text, row.caption.tags) == ("caption", False, "", ())
    assert row.vector is None and row.embedder is None


def test_nested_fields_and_vector():
    row = from_plain(
        dict(
            ROW,
            human=True,
            tags=[{"label": "dog", "score": 0.5}],
            objects=[{"label": "dog", "count": 2, "score": 0.9}],
            vector=[0.6, 0.8],
            embedder="e",
        )
    )
    assert row.caption.tags == (("dog", 0.5),) and row.caption.objects == (("dog", 2, 0.9),)
    assert (
        row.vector is not None and row.vector.dtype == np.float32 and row.vector.tolist() == pytest.approx([0.6, 0.8])
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"path": None}, "missing path"),
        ({"path": "photos/a.jpg"}, "not absolute"),
        ({"sha256": "xyz"}, "sha256"),
        ({"caption": "  "}, "caption is empty"),
        ({"size": -1}, "size"),
        ({"width": True}, "width"),
        ({"human": "yes"}, "human"),
        ({"tags": [{"label": "", "score": 1}]}, "tags"),
        ({"objects": [{"label": "dog", "count": 0, "score": 1}]}, "count"),
        ({"vector": ["0.5", "1"]}, "vector"),
        ({"vector": [True, False]}, "vector"),
        ({"vector": [1.0, None]}, "vector"),
        ({"vector": [1.0, float("nan")]}, "finite"),
        ({"vector": []}, "vector"),
    ],
)
def test_bad_fields_are_named(change, message):
    with pytest.raises(BadRow, match=message):
        from_plain(dict(ROW, **change))


@pytest.mark.parametrize(
    ("path", "old", "new", "expected"),
    [
        ("/mnt/p/a.jpg", "/mnt/p", "/home/me/p", "/home/me/p/a.jpg"),
        ("/mnt/p", "/mnt/p", "/home/me/p", "/home/me/p"),
        ("/mnt/photos/a.jpg", "/mnt/p", "/home/me/p", None),
        ("/mnt/p/a.jpg", "/", "/data", "/data/mnt/p/a.jpg"),
        ("/mnt/p/a.jpg", "/mnt", "/", "/p/a.jpg"),
    ],
)
def test_map_path_moves_whole_folders_only(path, old, new, expected):
    assert _under(path, old, new) == expected
