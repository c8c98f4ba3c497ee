"""`picscribe caption`, and how a captioner is chosen by name or by `auto`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from support.cli import Run
from support.paths import SAMPLES

from picscribe.indexer import FakeCaptioner, UnknownCaptioner, choose, create
from picscribe.indexer.registry import available_backends


def test_builtin_backends_register_through_entry_points() -> None:
    backends = available_backends()
    assert {"offline", "fake"} <= set(backends)
    assert backends["fake"].load() is FakeCaptioner


def test_unknown_captioner_names_the_known_ones() -> None:
    with pytest.raises(UnknownCaptioner, match="offline"):
        create("no-such-backend")


def test_auto_without_a_vlm_chooses_offline_and_says_why() -> None:
    choice = choose("auto")
    assert choice.captioner.name == "offline"
    assert "no VLM is configured" in choice.reason


def test_auto_with_an_unusable_vlm_falls_back_with_the_reason() -> None:
    choice = choose("auto", vlm="transformers:Qwen/Qwen2-VL-2B-Instruct")
    assert choice.captioner.name == "offline"
    assert "Qwen/Qwen2-VL-2B-Instruct" in choice.reason and "no VLM available" in choice.reason


def test_auto_uses_a_configured_backend_that_can_run() -> None:
    choice = choose("auto", vlm="fake:v9")
    assert choice.captioner.name == "fake" and choice.captioner.model_id == "fake-v9"


def test_fake_captioner_is_deterministic_and_content_derived(tmp_path: Path) -> None:
    red = Image.new("RGB", (80, 40), (210, 30, 30))
    (a,) = FakeCaptioner().caption([red])
    (b,) = FakeCaptioner().caption([red.copy()])
    (c,) = FakeCaptioner().caption([Image.new("RGB", (80, 40), (30, 30, 210))])
    assert a == b
    assert "red" in a.text and "landscape" in a.text
    assert c != a and "blue" in c.text


def test_caption_json_prints_one_object_per_image(run: Run) -> None:
    images = sorted(SAMPLES.glob("*.jpg"))[:2]
    result = run("caption", *map(str, images), "--captioner", "fake", "--json")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in rows] == [str(p) for p in images]
    for row in rows:
        assert row["caption"] and row["model"] == "fake-v1"
    assert "captioner: fake" in result.stderr


def test_caption_reports_a_bad_file_and_goes_on(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_text("hello")
    good = sorted(SAMPLES.glob("*.jpg"))[0]
    result = run("caption", str(bad), str(good), "--captioner", "fake", "--json")
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in rows] == [str(bad), str(good)]
    assert "not an image" in rows[0]["error"] and "error" not in rows[1]
    assert str(bad) in result.stderr and "not an image" in result.stderr


def test_caption_rejects_a_task_the_backend_cannot_do(run: Run) -> None:
    image = sorted(SAMPLES.glob("*.jpg"))[0]
    result = run("caption", str(image), "--captioner", "fake", "--task", "ocr")
    assert result.exit_code == 2 and "ocr" in result.stderr


def test_unknown_captioner_is_a_usage_error(run: Run, photos: Path) -> None:
    result = run("index", str(photos), "--captioner", "nope")
    assert result.exit_code == 2
    assert "unknown captioner 'nope'" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("spec", ["offline:some-model", "sidecar:v9"])
def test_a_model_the_backend_refuses_is_a_usage_error(run: Run, photos: Path, spec: str) -> None:
    result = run("index", str(photos), "--captioner", spec)
    assert result.exit_code == 2, result.output
    assert "no model" in result.stderr and "Traceback" not in result.output
