"""picscribe export / import: rows out in Parquet, JSONL, CSV and text, and back into any index.

One source index of the 26 sample photos (fake captioner) is built per
module; each test exports from it and imports into its own fresh home.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from support.cli import Run, index_json
from support.paths import SAMPLES

from picscribe import Library
from picscribe.exchange import COLUMNS, arrow_schema
from picscribe.search import DEFAULT_EMBEDDER
from picscribe.store import DB_NAME

#: The queries scripts/demo.sh runs.
DEMO_QUERIES = ("pizza on a plate", "a bus on the road", "stop sign")
ROUND_TRIPS = [("parquet", False), ("jsonl", False), ("csv", False), ("parquet", True), ("jsonl", True)]


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
        assert report.captioned == len(list(SAMPLES.glob("*.jpg"))) and not report.failures
        yield root / "home", photos


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
    exported = _export(run, src_home, fmt, out, *(["--vectors"] if vectors else []))
    assert exported == {"format": fmt, "out": str(out), "rows": 26, "vectors": vectors, "embedder": DEFAULT_EMBEDDER}

    imported = _import(run, out)
    assert imported == {
        "files": 1,
        "rows": 26,
        "images_added": 26,
        "captions_written": 26,
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


def test_import_twice_is_a_no_op(run, source, home, tmp_path):
    out = tmp_path / "rows.parquet"
    _export(run, source[0], "parquet", out, "--vectors")
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
    assert (report["images_added"], report["captions_written"]) == (26, 26)
    code, indexed = index_json(run, str(photos))
    assert (code, indexed["captioned"], indexed["unchanged"]) == (0, 0, 26)
    assert all(path.startswith(f"{photos}/") for path, _, _ in _search(run, home, "stop sign"))

    # Not mapped: the photos here are still recognised by content hash, never captioned again.
    other = tmp_path / "other"
    with Library.open(other) as lib:
        unmapped = lib.import_(shard)
    assert (unmapped.images_added, unmapped.captions_written, unmapped.failed) == (26, 26, False)
    result = run("--home", other, "index", photos, "--captioner", "fake", "--json")
    indexed = json.loads(result.stdout)
    assert (result.exit_code, indexed["captioned"], indexed["reused"]) == (0, 0, 26)


def _export_lines(lib: Library) -> list[str]:
    stream = io.StringIO()
    assert lib.export(stream, "jsonl").rows == 26
    return stream.getvalue().splitlines()


def test_export_formats_hold_the_same_rows(run, source, tmp_path):
    src_home, photos = source
    for fmt in ("parquet", "jsonl", "csv", "txt"):
        _export(run, src_home, fmt, tmp_path / f"rows.{fmt}", *(["--vectors"] if fmt == "parquet" else []))
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
    txt = (tmp_path / "rows.txt").read_text().splitlines()
    assert txt == [f"{r['path']}\t{r['caption']}" for r in jsonl_rows]


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


@pytest.mark.models
@pytest.mark.slow
def test_round_trip_with_the_offline_captioner(run, photos, home, tmp_path):
    result = run("index", photos, "--captioner", "offline")
    assert result.exit_code == 0, result.output
    out = tmp_path / "rows.parquet"
    assert _export(run, home, "parquet", out)["rows"] == 6
    fresh = tmp_path / "fresh"
    imported = json.loads(run("--home", fresh, "import", out, "--json").stdout)
    assert (imported["images_added"], imported["captions_written"]) == (6, 6)
    for query in DEMO_QUERIES:
        want, got = _search(run, home, query), _search(run, fresh, query)
        assert [(p, c) for p, c, _ in got] == [(p, c) for p, c, _ in want], query
    # Tags, objects and OCR text travel too: the fresh index's rows equal the source's.
    again = tmp_path / "again.jsonl"
    _export(run, home, "jsonl", tmp_path / "first.jsonl")
    _export(run, fresh, "jsonl", again)
    assert again.read_text() == (tmp_path / "first.jsonl").read_text()
