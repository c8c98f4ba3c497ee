"""`picscribe index` / `reindex` through each API backend, end to end.

The real client libraries talk to local protocol servers whose reply is the
reference caption of the sample photo nearest to the image that arrived.
So a search that finds the right photo proves the image travelled intact
and its caption came back to the right file through the concurrent pipeline.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.api_servers import FakeServer, InFlight, Received, isolate_api_env, require_clients, serve, token_counts
from support.cli import Run
from support.paths import SAMPLES

pytestmark = [pytest.mark.api, pytest.mark.slow]

require_clients()

KEY = "sk-test-secret-e2e-0123456789"


def _env(name: str, url: str) -> dict[str, str]:
    return {
        "openai": {"OPENAI_BASE_URL": f"{url}/v1", "OPENAI_API_KEY": KEY},
        "ollama": {"OLLAMA_HOST": url},
        "anthropic": {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": KEY},
        "gemini": {"GEMINI_BASE_URL": url, "GEMINI_API_KEY": KEY},
    }[name]


def _thumb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB").resize((16, 16), Image.Resampling.BILINEAR), dtype=np.float32)


@cache
def _references() -> tuple[np.ndarray, list[str]]:
    captions = {}
    for line in (SAMPLES.parent / "captions.jsonl").read_text().splitlines():
        row = json.loads(line)
        captions[Path(row["file"]).name] = row["captions"][0].strip()
    names = sorted(captions)
    thumbs = np.stack([_thumb(Image.open(SAMPLES / name)) for name in names])
    return thumbs, [captions[n] for n in names]


def oracle_reply(request: Received) -> str:
    """The reference caption of the sample photo closest to the image received."""
    thumbs, captions = _references()
    distances = ((thumbs - _thumb(request.decoded()[0])) ** 2).sum(axis=(1, 2, 3))
    return captions[int(distances.argmin())]


@pytest.fixture(scope="module", params=["openai", "ollama", "anthropic", "gemini"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeServer]]:
    with serve(request.param) as fake:
        yield request.param, fake


@pytest.fixture
def api(server: tuple[str, FakeServer], monkeypatch: pytest.MonkeyPatch) -> tuple[str, FakeServer]:
    name, fake = server
    fake.reset()
    fake.reply = oracle_reply
    isolate_api_env(monkeypatch)
    for var, value in _env(name, fake.url).items():
        monkeypatch.setenv(var, value)
    return name, fake


@pytest.fixture
def openai_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    with serve("openai") as fake:
        fake.reply = oracle_reply
        isolate_api_env(monkeypatch)
        for var, value in _env("openai", fake.url).items():
            monkeypatch.setenv(var, value)
        yield fake


def _index(run: Run, *args: str | Path) -> tuple[int, dict, str]:
    result = run("index", *args, "--json")
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_index_the_samples_through_each_backend(api: tuple[str, FakeServer], run: Run, home: Path) -> None:
    name, fake = api
    code, report, stderr = _index(run, SAMPLES, "--captioner", f"{name}:test-model")
    assert code == 0, stderr
    assert report["captioned"] == 26 and report["failed"] == 0 and report["stopped"] is None
    assert len(fake.requests) == 26  # one request per photo, none repeated
    spent_in = sum(token_counts(r, oracle_reply(r))[0] for r in fake.requests)
    spent_out = sum(token_counts(r, oracle_reply(r))[1] for r in fake.requests)
    assert report["usage"] == {
        "requests": 26,
        "failed_requests": 0,
        "input_tokens": spent_in,
        "output_tokens": spent_out,
    }
    assert f"{name} usage: 26 requests, {spent_in:,} input + {spent_out:,} output tokens" in stderr

    for query, expected in [("pizza on a plate", "000000121647.jpg"), ("a bus on the road", "000000252639.jpg")]:
        hits = json.loads(run("search", query, "--json").stdout)
        assert Path(hits[0]["path"]).name == expected, (query, hits[:3])

    status = json.loads(run("status", "--json").stdout)
    (row,) = status["captions_by_model"]
    assert row["captioner"] == name and row["model"].startswith(f"{name}:test-model@127.0.0.1:")
    # The key reaches the server, and nothing else: not the index files, not the output.
    if name != "ollama":
        assert any(KEY in json.dumps(r.headers) for r in fake.requests)
    assert KEY not in stderr + json.dumps(report)
    for path in home.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_refused_key_stops_the_run_and_marks_nothing_failed(openai_server: FakeServer, run: Run, photos: Path) -> None:
    openai_server.failures = [(401, "Incorrect API key provided")] * 100
    code, report, stderr = _index(run, photos, "--captioner", "openai:test-model")
    assert code == 1
    assert "401" in report["stopped"] and "Incorrect API key provided" in report["stopped"]
    assert report["pending"] == 6 and report["captioned"] == 0 and report["failed"] == 0
    assert len(openai_server.requests) <= 4  # those already in flight, no more
    assert "stopped early" in stderr and "6 file(s) not captioned yet" in stderr
    status = json.loads(run("status", "--json").stdout)
    assert status["failed"] == 0

    openai_server.reset()
    openai_server.reply = oracle_reply
    code, report, stderr = _index(run, photos, "--captioner", "openai:test-model")
    assert code == 0, stderr
    assert report["captioned"] == 6


def test_request_budget_stops_cleanly_and_the_next_run_continues(
    openai_server: FakeServer, run: Run, photos: Path
) -> None:
    code, report, stderr = _index(
        run, photos, "--captioner", "openai:test-model", "--max-requests", "4", "--concurrency", "2"
    )
    assert code == 1
    assert report["captioned"] == 4 and report["pending"] == 2 and report["failed"] == 0
    assert "--max-requests 4" in report["stopped"]
    assert len(openai_server.requests) == 4
    assert json.loads(run("status", "--json").stdout)["searchable"] == 4

    code, report, stderr = _index(run, photos, "--captioner", "openai:test-model")
    assert code == 0, stderr
    assert report["captioned"] == 2 and report["unchanged"] == 4
    assert len(openai_server.requests) == 6  # every photo paid for exactly once


def test_a_rejected_image_is_recorded_and_the_others_are_paid_for_once(
    openai_server: FakeServer, run: Run, photos: Path
) -> None:
    openai_server.failures = [(400, "Could not process image")]
    code, report, _ = _index(run, photos, "--captioner", "openai:test-model", "--concurrency", "1")
    assert code == 1
    assert report["captioned"] == 5 and report["failed"] == 1 and report["stopped"] is None
    assert "Could not process image" in report["failures"][0]["error"]
    assert len(openai_server.requests) == 6
    assert report["usage"]["failed_requests"] == 1


def _gauge_in_flight(server: FakeServer, target: int) -> InFlight:
    gauge = InFlight(target)

    def held(request: Received) -> str:
        gauge.hold()
        return oracle_reply(request)

    server.reply = held
    return gauge


def test_concurrency_comes_from_the_flag_or_the_config(
    openai_server: FakeServer, run: Run, photos: Path, home: Path
) -> None:
    gauge = _gauge_in_flight(openai_server, target=3)
    code, _, stderr = _index(run, photos, "--captioner", "openai:test-model", "--concurrency", "3")
    assert code == 0, stderr
    assert gauge.peak == 3

    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text("api_concurrency = 2\n")
    gauge = _gauge_in_flight(openai_server, target=3)
    gauge.patience = 0.2  # at most 2 may overlap: the third never comes, so each pair waits only briefly for it
    result = run("reindex", "--captioner", "openai:other-model")
    assert result.exit_code == 0, result.stderr
    assert gauge.peak == 2


def test_reindex_through_an_api_resumes_after_its_budget(openai_server: FakeServer, run: Run, photos: Path) -> None:
    assert run("index", photos, "--captioner", "fake").exit_code == 0
    result = run("reindex", "--captioner", "openai:test-model", "--max-requests", "3", "--json")
    assert result.exit_code == 1
    assert "search still uses the previous captions" in result.stderr
    assert json.loads(run("status", "--json").stdout)["active_captioner"] == "fake"

    result = run("reindex", "--captioner", "openai:test-model", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["captioned"] == 3
    assert json.loads(run("status", "--json").stdout)["active_captioner"] == "openai"
    assert len(openai_server.requests) == 6


def test_a_budget_on_a_captioner_that_sends_no_requests_is_a_usage_error(run: Run, photos: Path) -> None:
    result = run("index", photos, "--captioner", "fake", "--max-requests", "3")
    assert result.exit_code == 2
    assert "apply to API captioners" in result.stderr


def test_a_stopped_run_forgets_no_moved_photo(openai_server: FakeServer, run: Run, photos: Path) -> None:
    """A run that stops before reaching a moved photo's new path must not drop
    the old path's row, or the caption it carries would be lost with it."""
    assert run("index", photos, "--captioner", "fake").exit_code == 0
    first = sorted(photos.glob("*.jpg"))[0]
    first.rename(photos / "zz-moved.jpg")
    new = sorted(p for p in SAMPLES.glob("*.jpg") if not (photos / p.name).exists())[-1]
    (photos / "aa-new.jpg").write_bytes(new.read_bytes())

    openai_server.failures = [(401, "Incorrect API key provided")] * 10
    code, report, _ = _index(run, photos, "--captioner", "openai:test-model", "--concurrency", "1", "--batch-size", "1")
    assert code == 1 and report["stopped"] is not None
    assert report["removed"] == 0
    assert report["reused"] == 0  # the stop came first: the moved photo was never reached

    code, report, stderr = _index(run, photos, "--captioner", "fake")
    assert code == 0, stderr
    assert (report["captioned"], report["reused"], report["removed"]) == (1, 1, 1)


def test_caption_and_ask_commands_through_an_api(openai_server: FakeServer, run: Run) -> None:
    pizza, bus = SAMPLES / "000000121647.jpg", SAMPLES / "000000252639.jpg"
    result = run("caption", pizza, bus, "--captioner", "openai:test-model", "--task", "alt_text", "--json")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    # The server's replies, through the shared output cleaning (which capitalises).
    assert [r["caption"].lower().rstrip(".") for r in rows] == [
        oracle_reply(r).lower().rstrip(".") for r in openai_server.requests
    ]
    assert "pizza" in rows[0]["caption"].lower() and rows[0]["model"].startswith("openai:test-model@")
    assert "alt text" in openai_server.requests[0].prompt.lower()

    result = run("ask", pizza, "What food is this?", "--captioner", "openai:test-model", "--json")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["answered"] is True and "pizza" in answer["answer"].lower()
    assert "What food is this?" in openai_server.requests[-1].prompt


def test_caption_command_stops_at_a_refused_key(openai_server: FakeServer, run: Run) -> None:
    openai_server.failures = [(401, "Incorrect API key provided")] * 10
    images = sorted(SAMPLES.glob("*.jpg"))[:3]
    result = run("caption", *images, "--captioner", "openai:test-model")
    assert result.exit_code == 1
    assert result.stderr.count("Incorrect API key provided") == 1
    assert "3 of 3 image(s) failed" in result.stderr
    assert len(openai_server.requests) == 1

    result = run("ask", images[0], "What is this?", "--captioner", "openai:test-model")
    assert result.exit_code == 1
    assert "Incorrect API key provided" in result.stderr and "Traceback" not in result.stderr
