"""Incremental indexing: unchanged files are not opened; moved and duplicated
content is not captioned again; edits and deletions are followed."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

from support.cli import Run, index_json


def _captions(home: Path) -> list[tuple]:
    with sqlite3.connect(home / "index.sqlite") as db:
        return db.execute("SELECT id, content_hash, created_at FROM captions ORDER BY id").fetchall()


def _search_paths(run: Run, query: str, *extra: str) -> list[str]:
    result = run("search", query, "--json", "-k", "50", *extra)
    assert result.exit_code == 0, result.stderr
    return [hit["path"] for hit in json.loads(result.stdout)]


def test_first_run_indexes_everything(run: Run, photos: Path, home: Path) -> None:
    code, report = index_json(run, str(photos))
    assert code == 0
    assert report["scanned"] == 6 and report["captioned"] == 6 and report["decoded"] == 6
    assert report["failed"] == 0
    status = json.loads(run("status", "--json").stdout)
    assert status["ok"] == 6 and status["searchable"] == 6
    assert status["captions_by_model"] == [{"captioner": "fake", "model": "fake-v1", "count": 6}]


def test_rerun_on_unchanged_folder_decodes_and_hashes_nothing(run: Run, photos: Path, home: Path) -> None:
    index_json(run, str(photos))
    before = _captions(home)
    code, report = index_json(run, str(photos))
    assert code == 0
    assert report["unchanged"] == 6
    assert report["decoded"] == 0 and report["hashed"] == 0 and report["captioned"] == 0
    assert _captions(home) == before


def test_moved_file_keeps_its_caption_and_is_not_recaptioned(run: Run, photos: Path, home: Path) -> None:
    index_json(run, str(photos))
    before = _captions(home)
    victim = sorted(photos.glob("*.jpg"))[0]
    (photos / "moved").mkdir()
    new_path = photos / "moved" / "renamed.jpg"
    victim.rename(new_path)

    code, report = index_json(run, str(photos))
    assert code == 0
    assert report["reused"] == 1 and report["decoded"] == 0 and report["captioned"] == 0
    assert report["removed"] == 1
    assert _captions(home) == before  # same rows, same timestamps
    paths = _search_paths(run, "picture")
    assert str(new_path) in paths and str(victim) not in paths


def test_duplicate_file_reuses_caption(run: Run, photos: Path, home: Path) -> None:
    first = sorted(photos.glob("*.jpg"))[0]
    shutil.copy2(first, photos / "copy of first.jpg")
    code, report = index_json(run, str(photos))
    assert code == 0
    assert report["captioned"] == 6 and report["reused"] == 1
    assert len(_captions(home)) == 6
    paths = _search_paths(run, "picture", "--no-collapse")
    assert str(first) in paths and str(photos / "copy of first.jpg") in paths
    # By default the copy folds into one hit with its twin (issue 21).
    hits = json.loads(run("search", "picture", "--json", "-k", "50").stdout)
    (card,) = [h for h in hits if str(first) in [h["path"], *h["copies"]]]
    assert {card["path"], *card["copies"]} == {str(first), str(photos / "copy of first.jpg")}


def test_edited_file_is_recaptioned(run: Run, photos: Path, home: Path) -> None:
    from PIL import Image

    index_json(run, str(photos))
    target = sorted(photos.glob("*.jpg"))[1]
    Image.new("RGB", (300, 300), (200, 30, 30)).save(target)
    code, report = index_json(run, str(photos))
    assert code == 0
    assert report["captioned"] == 1 and report["unchanged"] == 5
    hits = json.loads(run("search", "mostly red square", "--json", "-k", "1").stdout)
    assert hits[0]["path"] == str(target)
    assert "red" in hits[0]["caption"]
    # The old content had no other file: its caption is gone, not orphaned.
    assert len(_captions(home)) == 6


def test_deleted_file_leaves_the_index(run: Run, photos: Path, home: Path) -> None:
    index_json(run, str(photos))
    gone = sorted(photos.glob("*.jpg"))[2]
    gone.unlink()
    code, report = index_json(run, str(photos))
    assert code == 0 and report["removed"] == 1
    assert str(gone) not in _search_paths(run, "picture")
    status = json.loads(run("status", "--json").stdout)
    assert status["ok"] == 5 and status["searchable"] == 5


def test_indexing_a_subfolder_does_not_forget_the_rest(run: Run, photos: Path, home: Path) -> None:
    sub = photos / "sub"
    sub.mkdir()
    shutil.copy2(sorted(photos.glob("*.jpg"))[0], sub / "x.jpg")
    os.utime(sub / "x.jpg", (1, 1))
    index_json(run, str(photos))
    code, report = index_json(run, str(sub))
    assert code == 0 and report["removed"] == 0
    assert json.loads(run("status", "--json").stdout)["ok"] == 7


def test_file_with_image_content_but_no_extension_is_indexed(run: Run, photos: Path, home: Path) -> None:
    src = sorted(photos.glob("*.jpg"))[0]
    shutil.copy2(src, photos / "scan-0001")  # no extension
    (photos / "notes.txt").write_text("not a photo")  # skipped silently, not a failure
    code, report = index_json(run, str(photos))
    assert code == 0 and report["scanned"] == 7 and report["failed"] == 0
    # A copy of src: listed on its own only when copies are not folded together.
    assert str(photos / "scan-0001") in _search_paths(run, "picture", "--no-collapse")


def test_a_different_embedder_is_refused_before_any_work(run: Run, photos: Path, home: Path, monkeypatch) -> None:
    index_json(run, str(photos))
    (photos / "new.png").write_bytes((photos / sorted(p.name for p in photos.iterdir())[0]).read_bytes())
    monkeypatch.setenv("PICSCRIBE_EMBEDDER", "some-org/another-model")
    result = run("index", str(photos), "--captioner", "fake")
    assert result.exit_code == 1
    assert "sentence-transformers/all-MiniLM-L6-v2" in result.stderr and "another-model" in result.stderr
    assert "Traceback" not in result.stderr


def test_moving_a_whole_folder_is_written_in_bounded_transactions(
    photos: Path, home: Path, model_cache: Path, monkeypatch
) -> None:
    import picscribe.indexer.pipeline as pipeline
    from picscribe.indexer import FakeCaptioner, Indexer
    from picscribe.search import SentenceTransformerEmbedder
    from picscribe.store import Store

    embedder = SentenceTransformerEmbedder(cache_dir=model_cache / "models")
    with Store.open(home) as store:
        Indexer(store, FakeCaptioner(), embedder).index([photos])
    moved = photos.parent / "renamed album"
    photos.rename(moved)

    monkeypatch.setattr(pipeline, "_METADATA_BATCH", 2)
    with Store.open(home) as store:
        sizes: list[int] = []
        real_write = store.write_batch

        def spy(images=(), captions=(), failures=(), remove=(), carry=()):
            sizes.append(len(images) + len(failures))
            return real_write(images=images, captions=captions, failures=failures, remove=remove, carry=carry)

        monkeypatch.setattr(store, "write_batch", spy)
        report = Indexer(store, FakeCaptioner(), embedder).index([photos.parent])
        assert report.reused == 6 and report.captioned == 0 and report.removed == 6
        assert max(sizes) <= 2 and sum(sizes) == 6
        assert store.status().searchable == 6
