"""The checks an imported row must pass, --map-path's folder rule, and which
detailed and alt text an exported row carries (no index on disk)."""

from __future__ import annotations

import numpy as np
import pytest

from picscribe.exchange._caption_files import caption_file_for, caption_line
from picscribe.exchange._import import _under
from picscribe.exchange._schema import BadRow, from_plain, takes_caption_vector
from picscribe.store import ExportRow
from picscribe.store._export import TaskText, pick_task_text

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


def test_detailed_and_alt_text_become_captions_by_the_rows_captioner():
    row = from_plain(
        dict(ROW, detailed="  A brown dog asleep on a green sofa.  ", alt_text="Dog on sofa", ocr_text="ACME")
    )
    detailed, alt = row.others
    assert [(r.task, r.text, r.captioner, r.model_id, r.human) for r in row.others] == [
        ("detailed", "A brown dog asleep on a green sofa.", "fake", "fake-v1", False),
        ("alt_text", "Dog on sofa", "fake", "fake-v1", False),
    ]
    # A model's description is embedded in its caption's place, as the indexer does; alt text is not embedded.
    assert takes_caption_vector(row.caption) and takes_caption_vector(detailed) and not takes_caption_vector(alt)
    assert (detailed.ocr_text, alt.ocr_text) == ("ACME", "")
    assert row.embedding_text() == 'A brown dog asleep on a green sofa. Text: "ACME"'


def test_a_persons_description_is_stored_but_not_embedded():
    row = from_plain(dict(ROW, human=True, detailed="Rex, the summer he was two.", alt_text="Rex"))
    assert all(r.human for r in row.records)
    assert [takes_caption_vector(r) for r in row.records] == [True, False, False]
    assert row.embedding_text() == "A dog on a sofa."


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_no_detailed_or_alt_text_means_no_caption_of_that_task(empty):
    assert from_plain(dict(ROW, detailed=empty, alt_text=empty)).others == ()


@pytest.mark.parametrize("column", ["detailed", "alt_text"])
def test_a_detailed_or_alt_text_that_is_not_text_is_named(column):
    with pytest.raises(BadRow, match=f"{column} is not text"):
        from_plain(dict(ROW, **{column: 3}))


def _text(captioner, model, human, created, caption_id, text):
    return TaskText(captioner, model, human, created, caption_id, text)


OWN = _text("fake", "fake-v1", False, "2026-01-01T00:00:00", 1, "own")
OTHER_MODEL = _text("other", "other-v1", False, "2026-06-01T00:00:00", 2, "other model")
PERSON_OLD = _text("human", "ui-edit", True, "2026-02-01T00:00:00", 3, "a person, earlier")
PERSON_NEW = _text("sidecar", "xmp-sidecar", True, "2026-03-01T00:00:00", 4, "a person, later")


@pytest.mark.parametrize(
    ("candidates", "row", "expected"),
    [
        # The text made with the caption comes first, even beside newer or human text.
        ([OTHER_MODEL, PERSON_NEW, OWN], ("fake", "fake-v1", False), "own"),
        ([PERSON_NEW, PERSON_OLD], ("sidecar", "xmp-sidecar", True), "a person, later"),
        # Beside a person's caption: the newest a person wrote, never a model's.
        ([OTHER_MODEL, PERSON_OLD, PERSON_NEW], ("human", "ui-edit-2", True), "a person, later"),
        ([OTHER_MODEL], ("human", "ui-edit", True), None),
        # Beside a generated caption: only its own model's; another's, or a person's, would be
        # imported under this row's captioner and human flag.
        ([OTHER_MODEL, PERSON_NEW], ("fake", "fake-v1", False), None),
        ([], ("fake", "fake-v1", False), None),
    ],
)
def test_which_detailed_or_alt_text_a_row_carries(candidates, row, expected):
    assert pick_task_text(candidates, *row) == expected


def _export_row(caption, tags=()):
    return ExportRow("/p/a.jpg", "ab" * 32, 1, 2, 3, 4, "JPEG", None, caption, "fake", "fake-v1", False, "", tags)


@pytest.mark.parametrize(
    ("caption", "tags", "with_tags", "line"),
    [
        ("A dog\non a  sofa.", (("dog", 0.9),), False, "A dog on a sofa.\n"),
        ("A dog on a sofa.", (("dog", 0.9), ("sofa", 0.5), ("dog", 0.1)), True, "A dog on a sofa, dog, sofa\n"),
        ("A dog on a sofa.", (), True, "A dog on a sofa.\n"),
    ],
)
def test_a_caption_file_holds_one_line(caption, tags, with_tags, line):
    assert caption_line(_export_row(caption, tags), tags=with_tags) == line


@pytest.mark.parametrize(
    ("image", "caption_file"),
    [("/p/photo.jpg", "/p/photo.txt"), ("/p/photo.tar.png", "/p/photo.tar.txt"), ("/p.d/IMG", "/p.d/IMG.txt")],
)
def test_the_caption_file_replaces_the_images_suffix(image, caption_file):
    assert caption_file_for(image) == caption_file
