"""The VLM backend through the CLI, on a tiny random-weight Qwen2-VL.

Index, search, ask, reindex and `auto` selection go through exactly the
code a user's hub model goes through; only the weights are tiny and random,
so the assertions are about structure and bookkeeping, never wording."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import torch
from support.cli import Run
from support.paths import SAMPLES
from support.tiny_vlms import tiny_vlm_dir

pytestmark = [pytest.mark.models, pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models are per-op overhead; see tiny_vlms.torch_single_thread
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_vlm_dir("qwen2_vl", tmp_path_factory)


@pytest.fixture
def short_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICSCRIBE_VLM_BATCH_SIZE", "2")
    from picscribe.indexer.captioners.vlm import _captioner

    # Random weights never stop early; keep every generate() at a few tokens.
    monkeypatch.setattr(_captioner, "MAX_NEW_TOKENS", {task: 4 for task in _captioner.MAX_NEW_TOKENS})


def test_index_search_and_status_with_a_local_vlm(run: Run, photos: Path, qwen: Path, short_answers: None) -> None:
    result = run("index", photos, "--captioner", f"vlm:{qwen}", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["captioned"] == 6 and report["failed"] == 0
    assert report["captioner"] == "vlm" and report["model_id"].startswith(f"local:{qwen.name}@")

    status = json.loads(run("status", "--json").stdout)
    assert status["searchable"] == 6
    assert status["captions_by_model"] == [{"captioner": "vlm", "model": report["model_id"], "count": 6}]
    hits = json.loads(run("search", "a photo", "--json", "-k", "3").stdout)
    assert len(hits) == 3 and all(h["captioner"] == "vlm" and isinstance(h["caption"], str) for h in hits)

    # Unchanged files are not captioned again by the same model.
    again = json.loads(run("index", photos, "--captioner", f"vlm:{qwen}", "--json").stdout)
    assert again["captioned"] == 0 and again["unchanged"] == 6


def test_reindex_with_the_vlm_switches_search_only_when_complete(
    run: Run, photos: Path, qwen: Path, short_answers: None
) -> None:
    assert run("index", photos, "--captioner", "fake", "--json").exit_code == 0
    result = run("reindex", "--captioner", f"vlm:{qwen}", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["captioned"] == 6 and report["complete"] is True
    status = json.loads(run("status", "--json").stdout)
    assert status["active_captioner"] == "vlm"
    assert [(c["captioner"], c["count"]) for c in status["captions_by_model"]] == [("vlm", 6)]
    with closing(sqlite3.connect(Path(os.environ["PICSCRIBE_HOME"]) / "index.sqlite")) as db:
        kept = dict(db.execute("SELECT captioner, count(*) FROM captions GROUP BY captioner").fetchall())
    assert kept == {"fake": 6, "vlm": 6}  # the old captions are kept next to the new ones
    hits = json.loads(run("search", "a photo", "--json", "-k", "6").stdout)
    assert {h["captioner"] for h in hits} == {"vlm"}


def test_ask_with_a_chat_vlm(run: Run, qwen: Path, short_answers: None) -> None:
    image = SAMPLES / "000000525891.jpg"
    result = run("ask", image, "What does the sign say?", "--captioner", f"vlm:{qwen}", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["answered"] is True and out["source"] == "vlm" and out["captioner"] == "vlm"
    assert isinstance(out["answer"], str)


def test_auto_uses_the_configured_vlm(
    run: Run, photos: Path, qwen: Path, short_answers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICSCRIBE_VLM", f"vlm:{qwen}")
    result = run("caption", photos / sorted(p.name for p in photos.iterdir())[0], "--json")
    assert result.exit_code == 0, result.stderr
    assert "the configured VLM" in result.stderr
    assert json.loads(result.stdout)["captioner"] == "vlm"


def test_auto_falls_back_to_offline_naming_the_missing_model(
    run: Run, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICSCRIBE_VLM", "vlm:picscribe-test/not-downloaded")
    result = run("caption", photos / sorted(p.name for p in photos.iterdir())[0], "--json")
    assert result.exit_code == 0, result.stderr
    reason = [line for line in result.stderr.splitlines() if line.startswith("captioner:")]
    assert len(reason) == 1  # one clear line
    assert "captioner: offline" in reason[0] and "picscribe-test/not-downloaded" in reason[0]


def test_default_vlm_is_tried_and_an_empty_setting_turns_it_off(
    run: Run, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = photos / sorted(p.name for p in photos.iterdir())[0]
    default = run("caption", image, "--device", "cpu")
    assert "captioner: offline" in default.stderr
    assert "florence-community/Florence-2-base" in default.stderr  # the CPU default, not in the cache here
    monkeypatch.setenv("PICSCRIBE_VLM", "")
    off = run("caption", image)
    assert "no VLM is configured" in off.stderr


def test_batch_size_flag_reaches_the_vlm(run: Run, photos: Path, qwen: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from picscribe.indexer.captioners.vlm import _captioner

    monkeypatch.setattr(_captioner, "MAX_NEW_TOKENS", {task: 4 for task in _captioner.MAX_NEW_TOKENS})
    seen: list[int] = []
    real = _captioner.TransformersCaptioner._run

    def spy(self, task, images, prompts):
        seen.append(self.batch_size)
        return real(self, task, images, prompts)

    monkeypatch.setattr(_captioner.TransformersCaptioner, "_run", spy)
    assert run("index", photos, "--captioner", f"vlm:{qwen}", "--batch-size", "3").exit_code == 0
    assert seen and set(seen) == {3}
    bad = run("index", photos, "--captioner", f"vlm:{qwen}", "--batch-size", "many")
    assert bad.exit_code == 2 and "'many' is not a positive integer or 'auto'" in bad.stderr
    assert run("reindex", "--captioner", "fake", "--batch-size", "auto").exit_code == 0
