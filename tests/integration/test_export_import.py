"""picscribe export / import: rows out in Parquet, JSONL and CSV, and back into any index;
kohya-style caption files (``--format txt``) beside the images or under a folder.

One source index of the 26 sample photos (fake captioner) is built per
module, with detailed and alt-text captions on three of them; each test
exports from it and imports into its own fresh home.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image
from support.cli import Run, index_json
from support.paths import SAMPLES
from support.privileges import unprivileged

from picscribe import Library
from picscribe.exchange import COLUMNS, arrow_schema
from picscribe.indexer import TASK_ALT_TEXT, TASK_CAPTION, TASK_DETAILED, CaptionResult, Tag, embedding_text
from picscribe.search import DEFAULT_EMBEDDER
from picscribe.store import DB_NAME, CaptionRecord

#: The queries scripts/demo.sh runs.
DEMO_QUERIES = ("pizza on a plate", "a bus on the road", "stop sign")
ROUND_TRIPS = [
    ("parquet", False),
    ("jsonl", False),
    ("csv", False),
    ("parquet", True),
    ("jsonl", True),
]
#: What the source index holds beside the captions of its first three photos (by name order):
#: (detailed, alt_text) as export must give them.
GENERATED_TEXTS = ("A bright photo of a street with a red bus, seen from the kerb.", "Red bus on a street")
HUMAN_TEXTS = ("My grandmother's kitchen, the summer we painted it.", "Kitchen with yellow walls")
#: Each sample-photo row gets the fake caption; these three get more (see ``_add_task_texts``).
EXTRA_CAPTIONS = 4


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[tuple[Path, Path]]:
    """(home, photos): every sample photo indexed with the fake captioner."""
    root = tmp_path_factory.mktemp("source")
    photos = root / "photos"
    shutil.copytree(SAMPLES, photos)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PICSCRIBE_CACHE", str(model_cache))
        env.setenv("HF_HUB_OFFLINE", "1")
        with Library.open(root / "home", captioner="fake") as lib:
            lib.store.add_library_roots([str(photos)])
            report = lib.index([photos])
            _add_task_texts(lib, sorted(photos.glob("*.jpg"))[:3])
        assert report.captioned == len(list(SAMPLES.glob("*.jpg"))) and not report.failures
        yield root / "home", photos


def _add_task_texts(lib: Library, first_three: list[Path]) -> None:
    """Detailed and alt-text captions, stored as the indexer stores them (the
    store gets them only from captioners today):

    - photo 0: the fake captioner's own description (its caption then embedded
      by it, the description stored with that vector) and alt text;
    - photo 1: a person's caption, description and alt text from an XMP sidecar
      (the caption embedded by its own text, the others without a vector);
    - photo 2: alt text from another model, which its row must not carry.
    """
    store, embedder = lib.store, lib.retriever.embedder
    hashes = {p: s.content_hash for p, s in store.file_states_at([str(p) for p in first_three]).items()}
    h0, h1, h2 = (hashes[str(p)] for p in first_three)
    assert h0 is not None and h1 is not None and h2 is not None
    (fake0,) = store.captions_by_key([(h0, "fake", "fake-v1", TASK_CAPTION)]).values()
    detailed, alt = GENERATED_TEXTS
    # Embedded as the indexer embeds a caption with a description: with its tags (issue 18).
    tags0 = tuple(Tag(label, score) for label, score in fake0.tags)
    vec0 = embedder.embed(
        [embedding_text(CaptionResult(text=fake0.text, ocr_text=fake0.ocr_text, detailed=detailed, tags=tags0))]
    )[0]
    human_caption = "Yellow walls and a blue door."
    human_detailed, human_alt = HUMAN_TEXTS
    none = np.zeros(0, dtype=np.float32)
    sidecar = ("sidecar", "xmp-sidecar")
    store.write_batch(
        captions=[
            replace(fake0, vector=vec0),
            CaptionRecord(h0, "fake", "fake-v1", TASK_DETAILED, detailed, vec0, ocr_text=fake0.ocr_text),
            CaptionRecord(h0, "fake", "fake-v1", TASK_ALT_TEXT, alt, none),
            CaptionRecord(h1, *sidecar, TASK_CAPTION, human_caption, embedder.embed([human_caption])[0], human=True),
            CaptionRecord(h1, *sidecar, TASK_DETAILED, human_detailed, none, human=True),
            CaptionRecord(h1, *sidecar, TASK_ALT_TEXT, human_alt, none, human=True),
            CaptionRecord(h2, "other", "other-v1", TASK_ALT_TEXT, "Alt text by another model", none),
        ]
    )
    store.flush()


def _search(run: Run, home: Path, query: str, limit: int = 5) -> list[tuple[str, str, float]]:
    result = run("--home", home, "search", query, "--limit", str(limit), "--json")
    assert result.exit_code == 0, result.output
    return [(hit["path"], hit["caption"], hit["score"]) for hit in json.loads(result.stdout)]


def _export(run: Run, home: Path, fmt: str, out: Path, *extra: str) -> dict:
    result = run("--home", home, "export", "--format", fmt, "--out", out, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _import(run: Run, *args: Path | str, exit_code: int = 0) -> dict:
    result = run("import", *args, "--json")
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)


def _status(run: Run, home: Path | None = None) -> dict:
    result = run(*(("--home", home) if home else ()), "status", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _table_counts(home: Path) -> dict[str, int]:
    tables = ("images", "captions", "tags", "objects", "embeddings", "current_captions")
    with sqlite3.connect(home / DB_NAME) as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


@pytest.mark.parametrize(("fmt", "vectors"), ROUND_TRIPS)
def test_round_trip_gives_identical_search_results(run, source, home, tmp_path, fmt, vectors):
    src_home, _ = source
    out = tmp_path / f"rows.{fmt}"
    exported = _export(run, src_home, fmt, out, *(["--with-vectors"] if vectors else []))
    assert exported == {"format": fmt, "out": str(out), "rows": 26, "vectors": vectors, "embedder": DEFAULT_EMBEDDER}

    imported = _import(run, out)
    assert imported == {
        "files": 1,
        "rows": 26,
        "images_added": 26,
        "captions_written": 26 + EXTRA_CAPTIONS,
        "unchanged": 0,
        "human_kept": 0,
        "kept_local": 0,
        "failed_rows": 0,
        "failed_files": 0,
        "errors": [],
    }
    for query in DEMO_QUERIES:
        want, got = _search(run, src_home, query), _search(run, home, query)
        assert [(p, c) for p, c, _ in got] == [(p, c) for p, c, _ in want], query
        assert [s for _, _, s in got] == pytest.approx([s for _, _, s in want], abs=1e-5), query
    assert _status(run)["searchable"] == 26
    # Every column comes back, detailed and alt_text included: the new index exports the same
    # rows, with the same vectors (photo 0's embedded from its description, as the indexer does).
    again, first = (
        _jsonl_rows(run, home, tmp_path / "again.jsonl"),
        _jsonl_rows(run, src_home, tmp_path / "first.jsonl"),
    )
    again_vectors, first_vectors = [r.pop("vector") for r in again], [r.pop("vector") for r in first]
    assert again == first
    assert np.allclose(np.array(again_vectors), np.array(first_vectors), atol=1e-5)
    with Library.open(home, read_only=True) as lib:
        detail = lib.store.image_detail(str(sorted(source[1].glob("*.jpg"))[1]))
    assert detail is not None
    stored = {(c.task, c.text, c.human, c.captioner) for c in detail.captions}
    assert {
        (TASK_DETAILED, HUMAN_TEXTS[0], True, "sidecar"),
        (TASK_ALT_TEXT, HUMAN_TEXTS[1], True, "sidecar"),
    } <= stored


def _jsonl_rows(run: Run, home: Path, out: Path) -> list[dict]:
    _export(run, home, "jsonl", out, "--with-vectors")
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_import_twice_is_a_no_op(run, source, home, tmp_path):
    out = tmp_path / "rows.parquet"
    _export(run, source[0], "parquet", out, "--vectors")  # the old spelling of --with-vectors
    _import(run, out)
    before, counts = _status(run), _table_counts(home)
    again = _import(run, out)
    assert (again["unchanged"], again["images_added"], again["captions_written"]) == (26, 0, 0)
    after = _status(run)
    assert after["generation"] == before["generation"]
    assert _table_counts(home) == counts
    assert (after["ok"], after["searchable"]) == (26, 26)


def test_index_after_import_is_a_no_op(run, source, tmp_path):
    src_home, photos = source
    out = tmp_path / "rows.jsonl"
    _export(run, src_home, "jsonl", out)
    _import(run, out)
    code, report = index_json(run, str(photos))
    assert code == 0
    assert (report["captioned"], report["unchanged"], report["failed"]) == (0, 26, 0)


def test_rows_from_another_mount_point(run, source, home, tmp_path):
    # A cluster job that saw the photos under another mount point.
    src_home, photos = source
    with Library.open(src_home, read_only=True) as lib:
        rows = [json.loads(line) for line in _export_lines(lib)]
    shard = tmp_path / "shard.jsonl"
    shard.write_text("".join(json.dumps(dict(r, path="/mnt/cluster" + r["path"])) + "\n" for r in rows))

    # Mapped back to where the photos are here: a later index reads nothing.
    report = _import(run, shard, "--map-path", f"/mnt/cluster{photos}/={photos}")
    assert (report["images_added"], report["captions_written"]) == (26, 26 + EXTRA_CAPTIONS)
    code, indexed = index_json(run, str(photos))
    assert (code, indexed["captioned"], indexed["unchanged"]) == (0, 0, 26)
    assert all(path.startswith(f"{photos}/") for path, _, _ in _search(run, home, "stop sign"))

    # Not mapped: the photos here are still recognised by content hash, never captioned again.
    other = tmp_path / "other"
    with Library.open(other) as lib:
        unmapped = lib.import_(shard)
    assert (unmapped.images_added, unmapped.captions_written, unmapped.failed) == (26, 26 + EXTRA_CAPTIONS, False)
    result = run("--home", other, "index", photos, "--captioner", "fake", "--json")
    indexed = json.loads(result.stdout)
    assert (result.exit_code, indexed["captioned"], indexed["reused"]) == (0, 0, 26)


def _export_lines(lib: Library) -> list[str]:
    stream = io.StringIO()
    assert lib.export(stream, "jsonl").rows == 26
    return stream.getvalue().splitlines()


def test_export_formats_hold_the_same_rows(run, source, tmp_path):
    src_home, photos = source
    for fmt in ("parquet", "jsonl", "csv"):
        _export(run, src_home, fmt, tmp_path / f"rows.{fmt}", *(["--with-vectors"] if fmt == "parquet" else []))
    table = pq.read_table(tmp_path / "rows.parquet")
    assert table.schema.remove_metadata() == arrow_schema(vectors=True)
    assert table.schema.metadata[b"picscribe.embedder"] == DEFAULT_EMBEDDER.encode()
    parquet_rows = table.to_pylist()
    jsonl_rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    csv_lines = (tmp_path / "rows.csv").read_text().splitlines()
    assert csv_lines[0] == ",".join(COLUMNS)
    assert len(parquet_rows) == len(jsonl_rows) == len(csv_lines) - 1 == 26
    for prow, jrow in zip(parquet_rows, jsonl_rows, strict=True):
        vector = prow.pop("vector")
        assert prow == jrow
        assert len(vector) == 384 and abs(np.linalg.norm(vector) - 1) < 1e-4
    first = jsonl_rows[0]
    assert first["path"] == str(sorted(photos.glob("*.jpg"))[0])
    assert (first["captioner"], first["model"], first["human"]) == ("fake", "fake-v1", False)
    assert first["sha256"] and first["size"] == Path(first["path"]).stat().st_size
    with (tmp_path / "rows.csv").open(newline="") as stream:
        csv_rows = list(csv.DictReader(stream))
    assert [(r["detailed"] or None, r["alt_text"] or None) for r in csv_rows] == [
        (r["detailed"], r["alt_text"]) for r in jsonl_rows
    ]
    # The description and alt text of the row's own captioner and model, or a
    # person's beside a person's caption; never another model's.
    texts = [(r["captioner"], r["human"], r["detailed"], r["alt_text"]) for r in jsonl_rows[:4]]
    assert texts == [
        ("fake", False, *GENERATED_TEXTS),
        ("sidecar", True, *HUMAN_TEXTS),
        ("fake", False, None, None),
        ("fake", False, None, None),
    ]


def test_export_to_stdout(run, source):
    result = run("--home", source[0], "export", "--format", "jsonl")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["sha256"] for line in result.stdout.splitlines()][:1]
    assert len(result.stdout.splitlines()) == 26


def test_human_text_survives_an_imported_generated_caption(run, home, photos, tmp_path):
    code, _ = index_json(run, str(photos))
    assert code == 0
    target = str(sorted(photos.glob("*.jpg"))[0])
    with Library.open(home) as lib:
        vector = lib.retriever.embedder.embed(["my own words"])[0]
        lib.store.set_human_caption(target, "my own words", vector)
    out = tmp_path / "rows.jsonl"
    _export(run, home, "jsonl", out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    (mine,) = [r for r in rows if r["path"] == target]
    assert (mine["caption"], mine["human"], mine["captioner"]) == ("my own words", True, "human")
    elsewhere = dict(mine, caption="generated elsewhere", captioner="other", model="other-v1", human=False)
    # The same key as the human caption, but generated: it must not replace it.
    same_key = dict(mine, caption="generated over the human row", human=False)
    shard = tmp_path / "shard.jsonl"
    shard.write_text(json.dumps(elsewhere) + "\n" + json.dumps(same_key) + "\n")

    report = _import(run, shard)
    assert (report["captions_written"], report["human_kept"], report["images_added"]) == (1, 1, 0)
    with Library.open(home, read_only=True) as lib:
        detail = lib.store.image_detail(target)
    assert detail is not None and detail.current is not None
    assert (detail.current.text, detail.current.human) == ("my own words", True)
    others = {(c.captioner, c.text, c.human, c.current) for c in detail.captions}
    assert ("other", "generated elsewhere", False, False) in others
    assert not any(c.text == "generated over the human row" for c in detail.captions)


def test_an_imported_human_caption_is_stored_as_human(run, home, photos, tmp_path):
    code, _ = index_json(run, str(photos))
    assert code == 0
    out = tmp_path / "rows.jsonl"
    _export(run, home, "jsonl", out)
    first = json.loads(out.read_text().splitlines()[0])
    edited = dict(first, caption="a caption someone wrote", captioner="human", model="ui-edit", human=True)
    shard = tmp_path / "human.jsonl"
    shard.write_text(json.dumps(edited) + "\n")
    assert _import(run, shard)["captions_written"] == 1
    hits = _search(run, home, "a caption someone wrote", limit=1)
    assert hits[0][:2] == (first["path"], "a caption someone wrote")
    with Library.open(home, read_only=True) as lib:
        detail = lib.store.image_detail(first["path"])
    assert detail is not None and detail.current is not None and detail.current.human
    # A later index with a generated captioner keeps it.
    code, report = index_json(run, str(photos))
    assert code == 0 and report["captioned"] == 0
    assert _search(run, home, "a caption someone wrote", limit=1)[0][1] == "a caption someone wrote"


def test_a_vector_from_another_embedder_is_refused(run, source, home, tmp_path):
    good = tmp_path / "good.jsonl"
    _export(run, source[0], "jsonl", good)
    out = tmp_path / "rows.jsonl"
    _export(run, source[0], "jsonl", out, "--vectors")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    rows[5]["embedder"] = "someone/other-embedder"
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))

    result = run("import", good, out)
    assert result.exit_code == 2
    assert str(out) in result.output and "row 6" in result.output
    assert "'someone/other-embedder'" in result.output and f"'{DEFAULT_EMBEDDER}'" in result.output
    # Refused before anything was written, even from the good file.
    assert _status(run)["images"] == 0


def test_bad_files_and_rows_are_reported_while_the_rest_imports(run, source, home, tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    _export(run, source[0], "parquet", tmp_path / "all.parquet")
    _export(run, source[0], "jsonl", tmp_path / "all.jsonl")
    lines = (tmp_path / "all.jsonl").read_text().splitlines()
    # A good shard, a JSONL with one malformed line and one bad row, and a truncated Parquet file.
    (shards / "a.jsonl").write_text("\n".join(lines[:10]) + "\n")
    bad_row = json.dumps(dict(json.loads(lines[12]), sha256="not-a-hash"))
    (shards / "b.jsonl").write_text("\n".join([lines[10], '{"path": "/x", "sha2', bad_row, *lines[13:20]]) + "\n")
    data = (tmp_path / "all.parquet").read_bytes()
    (shards / "c.parquet").write_bytes(data[: len(data) // 2])
    (shards / "notes.txt").write_text("not imported: the suffix is not an import format")

    report = _import(run, shards, tmp_path / "missing.csv", exit_code=1)
    errors = {(Path(e["file"]).name, e["row"]): e["error"] for e in report["errors"]}
    assert set(errors) == {("b.jsonl", 2), ("b.jsonl", 3), ("c.parquet", None), ("missing.csv", None)}
    assert errors[("b.jsonl", 2)].startswith("not JSON")
    assert "sha256" in errors[("b.jsonl", 3)]
    assert "Parquet" in errors[("c.parquet", None)]
    assert errors[("missing.csv", None)] == "no such file"
    assert (report["files"], report["failed_files"], report["failed_rows"]) == (3, 2, 2)
    assert report["images_added"] == 10 + 8
    assert _status(run)["searchable"] == 18

    result = run("import", shards)
    assert result.exit_code == 1
    assert "b.jsonl: row 2: not JSON" in result.stderr and "c.parquet: not a readable Parquet file" in result.stderr


def test_csv_with_missing_columns_names_them(run, home, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("path,caption\n/x.jpg,a photo\n")
    report = _import(run, bad, exit_code=1)
    assert report["errors"] == [
        {
            "file": str(bad),
            "row": None,
            "error": "missing column(s) sha256, captioner, model, size, mtime_ns, width, height, format",
        }
    ]


def test_parquet_without_pyarrow_says_how_to_get_it(run, source, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    result = run("--home", source[0], "export", "--format", "parquet", "--out", tmp_path / "rows.parquet")
    assert result.exit_code == 1
    assert "pip install 'picscribe[parquet]'" in result.output
    assert not (tmp_path / "rows.parquet").exists() and not list(tmp_path.iterdir())


def test_usage_errors(run, source, tmp_path):
    result = run("import", tmp_path, "--map-path", "relative=/x")
    assert result.exit_code == 2 and "--map-path" in result.output
    result = run("--home", source[0], "export", "--format", "parquet")
    assert result.exit_code == 2 and "--out" in result.output
    result = run("--home", source[0], "export", "--format", "xml", "--out", tmp_path / "x")
    assert result.exit_code == 2
    result = run("--home", source[0], "export", "--format", "txt", "--with-vectors")
    assert result.exit_code == 2 and "--with-vectors" in result.output
    result = run("--home", source[0], "export", "--format", "jsonl", "--overwrite")
    assert result.exit_code == 2 and "--overwrite is for --format txt" in result.output
    (tmp_path / "a-file").write_text("")
    result = run("--home", source[0], "export", "--format", "txt", "--out", tmp_path / "a-file")
    assert result.exit_code == 2 and "names a folder" in result.output
    result = run("--home", source[0], "export", "--format", "csv", "--out", tmp_path)
    assert result.exit_code == 2 and "is a folder" in result.output
    assert not list(tmp_path.glob("*.txt"))


@pytest.mark.models
@pytest.mark.slow
def test_round_trip_with_the_offline_captioner(run, photos, home, tmp_path):
    result = run("index", photos, "--captioner", "offline")
    assert result.exit_code == 0, result.output
    out = tmp_path / "rows.parquet"
    assert _export(run, home, "parquet", out)["rows"] == 6
    fresh = tmp_path / "fresh"
    imported = json.loads(run("--home", fresh, "import", out, "--json").stdout)
    # One caption row per image, and one per description or alt text the captioner made.
    extra = sum(bool(r["detailed"]) + bool(r["alt_text"]) for r in pq.read_table(out).to_pylist())
    assert (imported["images_added"], imported["captions_written"]) == (6, 6 + extra)
    for query in DEMO_QUERIES:
        want, got = _search(run, home, query), _search(run, fresh, query)
        assert [(p, c) for p, c, _ in got] == [(p, c) for p, c, _ in want], query
    # Tags, objects, OCR text, description and alt text travel too: the fresh index's rows equal the source's.
    again = tmp_path / "again.jsonl"
    _export(run, home, "jsonl", tmp_path / "first.jsonl")
    _export(run, fresh, "jsonl", again)
    assert again.read_text() == (tmp_path / "first.jsonl").read_text()


def test_a_persons_description_and_alt_text_survive_an_import(run, source, home, tmp_path):
    out = tmp_path / "rows.jsonl"
    _export(run, source[0], "jsonl", out)
    _import(run, out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    mine = rows[1]
    assert (mine["human"], mine["detailed"], mine["alt_text"]) == (True, *HUMAN_TEXTS)
    # The same captioner and model, so the same keys, but generated: none of the three replaces the person's.
    generated = dict(mine, human=False, detailed="generated description", alt_text="generated alt text")
    shard = tmp_path / "shard.jsonl"
    shard.write_text(json.dumps(generated) + "\n")

    report = _import(run, shard)
    assert (report["captions_written"], report["human_kept"], report["unchanged"]) == (0, 3, 0)
    assert _jsonl_rows(run, home, tmp_path / "after.jsonl")[1] | {"vector": None} == mine | {"vector": None}


def _txt(run: Run, *args: str | Path, exit_code: int = 0) -> dict:
    result = run("export", "--format", "txt", "--json", *args)
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)


def test_txt_writes_kohya_caption_files_beside_the_images_and_never_overwrites(run, home, photos):
    code, _ = index_json(run, str(photos))
    assert code == 0
    rows = {r["path"]: r for r in map(json.loads, run("export", "--format", "jsonl").stdout.splitlines())}
    images = sorted(photos.glob("*.jpg"))
    captions = [image.with_suffix(".txt") for image in images]

    report = _txt(run)
    assert report == {
        "format": "txt",
        "out": None,
        "written": 6,
        "skipped": 0,
        "failed": 0,
        "skipped_files": [],
        "errors": [],
    }
    for image, caption in zip(images, captions, strict=True):
        assert caption.read_text() == rows[str(image)]["caption"] + "\n"

    # A file that exists (here one a person edited) is skipped, never replaced, without --overwrite.
    captions[0].write_text("my own words\n")
    report = _txt(run, "--txt-tags")
    assert (report["written"], report["skipped"], report["failed"]) == (0, 6, 0)
    assert report["skipped_files"] == [str(c) for c in captions]
    assert captions[0].read_text() == "my own words\n"
    result = run("export", "--format", "txt")
    assert result.exit_code == 0
    assert "skipped 6 that exist (--overwrite replaces them)" in result.stderr
    assert f"skipped: {captions[0]}: exists" in result.stderr

    report = _txt(run, "--overwrite", "--txt-tags")
    assert (report["written"], report["skipped"]) == (6, 0)
    for image, caption in zip(images, captions, strict=True):
        row = rows[str(image)]
        assert row["tags"]
        assert row["caption"].endswith(".")
        expected = ", ".join([row["caption"].removesuffix("."), *(t["label"] for t in row["tags"])])
        assert caption.read_text() == expected + "\n"
    # Replaced through temporary files, none left behind.
    assert sorted(p.name for p in photos.iterdir()) == sorted([*(i.name for i in images), *(c.name for c in captions)])


def test_txt_under_out_mirrors_the_folders_below_the_roots(run, home, tmp_path):
    samples = sorted(SAMPLES.glob("*.jpg"))
    library = tmp_path / "library"
    (library / "2020" / "trip").mkdir(parents=True)
    (library / "2021").mkdir()
    shutil.copy2(samples[0], library / "2020" / "a.jpg")
    shutil.copy2(samples[1], library / "2020" / "trip" / "b.jpg")
    shutil.copy2(samples[2], library / "2021" / "c.jpg")
    # Two images of one folder with one stem: one photo.txt cannot caption both.
    shutil.copy2(samples[3], library / "2021" / "photo.jpg")
    Image.open(samples[4]).save(library / "2021" / "photo.png")
    code, _ = index_json(run, str(library / "2020"), str(library / "2021"))
    assert code == 0

    # Two roots: the paths below the folder that holds both.
    out = tmp_path / "captions"
    report = _txt(run, "--out", out, exit_code=1)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["2020/a.txt", "2020/trip/b.txt", "2021/c.txt"]
    assert (out / "2020" / "a.txt").read_text().endswith(".\n")
    assert (report["out"], report["written"], report["skipped"], report["failed"]) == (str(out), 3, 0, 2)
    clash = str(out / "2021" / "photo.txt")
    assert {(Path(e["path"]).name, e["file"]) for e in report["errors"]} == {("photo.jpg", clash), ("photo.png", clash)}
    assert all("photo.txt would caption both photo.jpg and photo.png" in e["error"] for e in report["errors"])
    assert not list(library.rglob("*.txt"))
    result = run("export", "--format", "txt", "--out", out)
    assert result.exit_code == 1
    assert f"failed: {clash} (for photo.png): photo.txt would caption both" in result.stderr

    # One root: the paths below it.
    other = tmp_path / "other-home"
    assert run("--home", other, "index", library / "2020", "--captioner", "fake").exit_code == 0
    out = tmp_path / "one-root"
    report = run("--home", other, "export", "--format", "txt", "--out", out, "--json")
    assert (report.exit_code, json.loads(report.stdout)["written"]) == (0, 2)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.txt")) == ["a.txt", "trip/b.txt"]


def test_txt_a_read_only_folder_fails_alone(run, shared_tmp, monkeypatch):
    home = shared_tmp / "home"
    monkeypatch.setenv("PICSCRIBE_HOME", str(home))
    samples = sorted(SAMPLES.glob("*.jpg"))
    library = shared_tmp / "library"
    locked, writable = library / "locked", library / "writable"
    locked.mkdir(parents=True)
    writable.mkdir()
    shutil.copy2(samples[0], locked / "a.jpg")
    shutil.copy2(samples[1], writable / "b.jpg")
    shutil.copy2(samples[2], writable / "c.jpg")
    code, _ = index_json(run, str(library))
    assert code == 0
    for p in [home, *home.rglob("*"), library, *library.rglob("*")]:
        p.chmod(0o777 if p.is_dir() else 0o666)
    locked.chmod(0o555)

    with unprivileged():
        if os.access(locked, os.W_OK, effective_ids=True):  # pragma: no cover
            pytest.skip("file permissions are not enforced for this user")
        report = _txt(run, exit_code=1)
    assert (report["written"], report["skipped"], report["failed"]) == (2, 0, 1)
    assert report["errors"] == [
        {"path": str(locked / "a.jpg"), "file": str(locked / "a.txt"), "error": "Permission denied"}
    ]
    assert sorted(p.name for p in writable.iterdir()) == ["b.jpg", "b.txt", "c.jpg", "c.txt"]
    assert list(locked.iterdir()) == [locked / "a.jpg"]
