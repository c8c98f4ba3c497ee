"""`picscribe eval`: output shape, modes, exit codes, and that it never touches the index."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from support.cli import Run, index_json
from support.paths import SAMPLES

from picscribe.evaluation import DatasetError, load_eval_set

pytestmark = pytest.mark.slow

SAMPLE_ROWS = SAMPLES.parent / "captions.jsonl"


def _write_rows(folder: Path, rows: list[dict]) -> None:
    (folder / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def evalset(tmp_path: Path) -> Path:
    """Four sample photos with their five reference captions and COCO objects each."""
    folder = tmp_path / "evalset"
    (folder / "images").mkdir(parents=True)
    rows = [json.loads(line) for line in SAMPLE_ROWS.read_text(encoding="utf-8").splitlines()[:4]]
    for row in rows:
        shutil.copy2(SAMPLES.parent / row["file"], folder / row["file"])
    _write_rows(folder, rows)
    return folder


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where eval's temporary indexes go, so a test can check they are removed."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _eval_json(run: Run, *args: str) -> tuple[int, dict, str]:
    result = run("eval", *args, "--json")
    return result.exit_code, json.loads(result.stdout), result.stderr


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def test_all_modes_as_json(run: Run, evalset: Path, home: Path, private_tmp: Path) -> None:
    started = time.perf_counter()
    code, out, stderr = _eval_json(run, str(evalset), "--captioner", "fake")
    wall = time.perf_counter() - started
    assert code == 0, stderr
    assert set(out) == {"folder", "images", "captions", "retrieval", "oracle"}
    assert out["images"] == 4 and out["folder"] == str(evalset)

    captions = out["captions"]
    assert captions["captioner"] == "fake" and captions["model"] == "fake-v1"
    assert captions["images"] == 4 and captions["failed"] == 0
    for key in ("bleu4", "rouge_l", "cider_d"):
        assert isinstance(captions[key], float) and 0.0 <= captions[key]
    assert "x 100" in captions["scale"]
    assert set(captions["noun_precision"]) >= {"precision", "nouns", "correct", "captions_without_nouns"}
    # The fake captioner names colours and shapes, never objects: precision is undefined, not 0.
    assert captions["noun_precision"]["precision"] is None
    assert captions["noun_precision"]["captions_without_nouns"] == 4
    # Timed for real: the first image alone (model loading), the other three per image,
    # and together no more than the whole run took.
    per_image, first = captions["seconds_per_image"], captions["first_image_seconds"]
    assert per_image > 0 and first > 0
    assert first + 3 * per_image <= wall
    listed = [json.loads(line)["file"] for line in (evalset / "captions.jsonl").read_text().splitlines()]
    assert [p["file"] for p in captions["per_image"]] == listed

    retrieval = out["retrieval"]
    assert retrieval["images"] == 4 and retrieval["queries"] == 20  # 5 references per image
    assert 0.0 <= retrieval["r_at_1"] <= retrieval["r_at_5"] <= retrieval["r_at_10"] == 1.0  # only 4 images
    assert 1 <= retrieval["median_rank"] <= 5

    oracle = out["oracle"]
    assert oracle["folds"] == 5 and oracle["images"] == 4
    assert (oracle["bm25"]["dense"], oracle["bm25"]["keyword"]) == (0.0, 1.0)
    assert (oracle["dense"]["dense"], oracle["dense"]["keyword"]) == (1.0, 0.0)
    # The default since issue 19: dense, plus words read in the photo or naming its place, and quoted phrases.
    assert (oracle["hybrid"]["dense"], oracle["hybrid"]["keyword"]) == (1.0, 0.0)
    assert oracle["hybrid"]["text"] > 0 and oracle["hybrid"]["phrase"] > 0
    for name in ("bm25", "dense", "hybrid"):
        assert oracle[name]["queries"] == 20
        # Four very different photos: human captions find their own image.
        assert oracle[name]["r_at_5"] == 1.0

    # Status lines go to stderr only; stdout is the one JSON object.
    assert "captioner: fake" in stderr and "oracle:" in stderr
    # The temporary indexes are gone, and no index was made in PICSCRIBE_HOME.
    # (torch may leave its own cache folder there.)
    assert [p.name for p in private_tmp.iterdir() if p.name.startswith("picscribe")] == []
    assert not home.exists()


@pytest.mark.parametrize("mode", ["captions", "retrieval", "oracle"])
def test_one_mode(run: Run, evalset: Path, mode: str) -> None:
    code, out, stderr = _eval_json(run, str(evalset), "--captioner", "fake", "--mode", mode)
    assert code == 0, stderr
    assert set(out) == {"folder", "images", mode}
    # The oracle needs no captioner, so none is loaded or announced.
    assert ("captioner:" in stderr) == (mode != "oracle")


def test_human_output_is_tables_on_stdout(run: Run, evalset: Path) -> None:
    result = run("eval", str(evalset), "--captioner", "fake", "--limit", "2")
    assert result.exit_code == 0, result.stderr
    for heading in ("BLEU-4", "CIDEr-D", "noun precision", "R@1", "median rank", "BM25 only", "dense only", "hybrid"):
        assert heading in result.stdout
    assert "2 image(s) scored" in result.stdout
    assert "evaluating" not in result.stdout and "evaluating 2 image(s)" in result.stderr


def test_limit_uses_the_first_rows(run: Run, evalset: Path) -> None:
    code, out, _ = _eval_json(run, str(evalset), "--captioner", "fake", "--limit", "2", "--mode", "captions")
    assert code == 0
    assert out["images"] == 2 and out["captions"]["images"] == 2


def test_the_users_index_is_untouched(run: Run, evalset: Path, photos: Path, home: Path) -> None:
    code, _ = index_json(run, str(photos))
    assert code == 0
    before = _snapshot(home)
    status_before = run("status", "--json").stdout
    code, out, stderr = _eval_json(run, str(evalset), "--captioner", "fake")
    assert code == 0, stderr
    assert _snapshot(home) == before
    assert run("status", "--json").stdout == status_before
    # The eval's own index held only the eval images, not the user's photos.
    assert out["retrieval"]["images"] == 4


def test_undecodable_image_is_counted_and_the_rest_scored(run: Run, evalset: Path) -> None:
    rows = [json.loads(line) for line in (evalset / "captions.jsonl").read_text().splitlines()]
    (evalset / "images" / "broken.jpg").write_bytes(b"this is not a JPEG")
    rows.append({"file": "images/broken.jpg", "captions": ["a photo that does not decode"]})
    _write_rows(evalset, rows)
    code, out, stderr = _eval_json(run, str(evalset), "--captioner", "fake", "--mode", "all")
    # Exit 1, as for `index` with failed files, but the report is complete.
    assert code == 1
    assert out["captions"]["failed"] == 1 and out["captions"]["images"] == 4
    assert out["captions"]["failures"][0]["file"] == "images/broken.jpg"
    assert out["retrieval"]["failed"] == 1 and out["retrieval"]["images"] == 4
    assert out["retrieval"]["queries"] == 20
    assert "images/broken.jpg" in stderr


def test_missing_captions_file_is_a_usage_error(run: Run, tmp_path: Path) -> None:
    result = run("eval", str(tmp_path), "--captioner", "fake")
    assert result.exit_code == 2
    assert "captions.jsonl" in result.stderr
    result = run("eval", str(tmp_path / "nowhere"), "--captioner", "fake")
    assert result.exit_code == 2 and "not a folder" in result.stderr


def test_malformed_line_is_a_usage_error_naming_the_line(run: Run, evalset: Path) -> None:
    lines = (evalset / "captions.jsonl").read_text().splitlines()
    lines.insert(2, '{"file": "images/x.jpg", "captions": "one string, not a list"}')
    (evalset / "captions.jsonl").write_text("\n".join(lines) + "\n")
    result = run("eval", str(evalset), "--captioner", "fake")
    assert result.exit_code == 2
    assert "line 3" in result.stderr and "'captions'" in result.stderr
    assert result.stdout == ""


def test_dataset_validation_reports_every_bad_line(tmp_path: Path) -> None:
    good = {"file": "a.jpg", "captions": ["a cat"]}
    lines = [
        json.dumps(good),
        "",  # blank lines are fine
        "{not json",
        json.dumps({"file": "/abs/b.jpg", "captions": ["x"]}),
        json.dumps({"file": "c.jpg", "captions": ["x"], "objects": {"cat": -1}}),
        json.dumps({"file": "a.jpg", "captions": ["again"]}),
        json.dumps(["a list"]),
        json.dumps({"file": "d.jpg", "captions": ["ok", ""]}),
    ]
    (tmp_path / "captions.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError) as info:
        load_eval_set(tmp_path)
    message = str(info.value)
    for expected in (
        "line 3: not valid JSON",
        "line 4: 'file' must be relative",
        "line 5: 'objects'",
        "line 6: 'a.jpg' is already listed on line 1",
        "line 7: expected a JSON object",
        "line 8: every entry of 'captions'",
    ):
        assert expected in message
    assert "line 1:" not in message and "line 2:" not in message


def test_dataset_paths_are_absolute_and_rows_keep_their_fields(tmp_path: Path) -> None:
    _write_rows(tmp_path, [{"file": "sub/../a.jpg", "captions": ["a cat"], "objects": {"cat": 1}, "license": "x"}])
    (item,) = load_eval_set(tmp_path).items
    assert item.path == os.path.join(str(tmp_path), "a.jpg")
    assert item.captions == ("a cat",) and item.objects == {"cat": 1} and item.line == 1
