"""`picscribe eval` through an API captioner: each photo is paid for exactly once.

The real OpenAI client talks to a local protocol server (tests/api_servers.py)
that refuses one specific photo wherever it arrives, so a run that asks again
for the photos of a failed batch shows up as extra requests.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.api_servers import FakeServer, Received, isolate_api_env, require_clients, serve
from support.cli import Run
from support.paths import SAMPLES

pytestmark = pytest.mark.api

require_clients()

KEY = "sk-test-secret-eval-0123456789"
PHOTOS = 6


@pytest.fixture
def openai_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    with serve("openai") as fake:
        isolate_api_env(monkeypatch)
        monkeypatch.setenv("OPENAI_BASE_URL", f"{fake.url}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        yield fake


@pytest.fixture
def evalset(tmp_path: Path) -> Path:
    """Six sample photos with their reference captions."""
    folder = tmp_path / "evalset"
    (folder / "images").mkdir(parents=True)
    lines = (SAMPLES.parent / "captions.jsonl").read_text(encoding="utf-8").splitlines()[:PHOTOS]
    for line in lines:
        shutil.copy2(SAMPLES.parent / json.loads(line)["file"], folder / json.loads(line)["file"])
    (folder / "captions.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return folder


def _thumb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB").resize((16, 16), Image.Resampling.BILINEAR), dtype=np.float32)


def _photo_of(request: Received, thumbs: dict[str, np.ndarray]) -> str:
    """Which photo of the set the request carried (the captioner sends it shrunk and re-encoded)."""
    sent = _thumb(request.decoded()[0])
    return min(thumbs, key=lambda name: float(((thumbs[name] - sent) ** 2).sum()))


@pytest.mark.parametrize("mode", ["captions", "all"])
def test_each_photo_is_asked_for_once_also_when_one_photo_of_a_batch_fails(
    openai_server: FakeServer, run: Run, evalset: Path, mode: str
) -> None:
    files = [json.loads(line)["file"] for line in (evalset / "captions.jsonl").read_text().splitlines()]
    thumbs = {name: _thumb(Image.open(evalset / name)) for name in files}
    # The first photo is captioned alone (to time model loading apart); the
    # rejected one is the second of the batch that follows, among four others.
    rejected = files[2]
    openai_server.reject = lambda r: (400, "Could not process image") if _photo_of(r, thumbs) == rejected else None

    result = run("eval", evalset, "--captioner", "openai:test-model", "--mode", mode, "--json")
    assert result.exit_code == 1, result.stderr
    out = json.loads(result.stdout)
    captions = out["captions"]
    assert (captions["images"], captions["failed"]) == (PHOTOS - 1, 1)
    assert captions["failures"][0]["file"] == rejected
    assert "Could not process image" in captions["failures"][0]["error"]
    assert [row["file"] for row in captions["per_image"]] == [f for f in files if f != rejected]
    if mode == "all":
        # Retrieval indexes the same photos: with the captions already paid for, and the same one failing.
        retrieval = out["retrieval"]
        assert (retrieval["images"], retrieval["failed"]) == (PHOTOS - 1, 1)
        assert retrieval["failures"][0]["file"] == rejected
    asked = Counter(_photo_of(r, thumbs) for r in openai_server.requests)
    assert asked == Counter(files), asked


def test_a_spent_request_budget_ends_the_captioning_and_no_unindexed_photo_counts_as_searchable(
    openai_server: FakeServer, run: Run, evalset: Path, home: Path
) -> None:
    home.mkdir()
    (home / "config.toml").write_text("max_requests = 2\n")
    result = run("eval", evalset, "--captioner", "openai:test-model", "--mode", "all", "--json")
    assert result.exit_code == 1, result.stderr
    out = json.loads(result.stdout)
    assert len(openai_server.requests) == 2
    files = [json.loads(line)["file"] for line in (evalset / "captions.jsonl").read_text().splitlines()]
    # Requests run concurrently: which two photos got the budget is the server's
    # order of arrival, so the failures are every photo it was not asked for.
    thumbs = {name: _thumb(Image.open(evalset / name)) for name in files}
    asked = {_photo_of(r, thumbs) for r in openai_server.requests}
    assert len(asked) == 2, asked
    captions, retrieval = out["captions"], out["retrieval"]
    assert (captions["images"], captions["failed"]) == (2, PHOTOS - 2)
    assert [f["file"] for f in captions["failures"]] == sorted(set(files) - asked)
    assert all("--max-requests 2" in f["error"] for f in captions["failures"])
    # Retrieval searched only among the two photos that were indexed, with their ten references.
    assert (retrieval["images"], retrieval["failed"], retrieval["queries"]) == (2, PHOTOS - 2, 10)
    assert all(f["error"].startswith("not indexed: captioner openai stopped") for f in retrieval["failures"])
