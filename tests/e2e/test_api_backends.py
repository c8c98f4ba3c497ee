"""The API captioner backends, each through its real client library against a local fake server."""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image
from support.api_servers import (
    FakeServer,
    InFlight,
    Received,
    colour_name,
    default_reply,
    isolate_api_env,
    require_clients,
    serve,
    token_counts,
)

from picscribe.indexer.captioners._prompts import prompt_for
from picscribe.indexer.captioners.api import (
    AnthropicCaptioner,
    APICaptioner,
    APIRequestError,
    GeminiCaptioner,
    OllamaCaptioner,
    OpenAICaptioner,
)
from picscribe.indexer.captioners.api._common import encode_jpeg, host_of
from picscribe.indexer.captioning import (
    TASK_ALT_TEXT,
    TASK_ASK,
    TASK_CAPTION,
    TASK_DETAILED,
    TASK_OCR,
    CaptionerOptions,
    CaptionerStopped,
    CaptionerUnavailable,
    CaptionResult,
    PartialBatch,
    Usage,
)

pytestmark = pytest.mark.api

require_clients()

KEY = "sk-test-secret-0123456789"


@dataclass(frozen=True)
class Provider:
    cls: type[APICaptioner]
    #: Environment variable holding the key; None when the backend needs none.
    key_env: str | None
    #: The client's base URL for a server root.
    base: Callable[[str], str]


PROVIDERS = {
    "openai": Provider(OpenAICaptioner, "OPENAI_API_KEY", lambda root: f"{root}/v1"),
    "ollama": Provider(OllamaCaptioner, None, lambda root: root),
    "anthropic": Provider(AnthropicCaptioner, "ANTHROPIC_API_KEY", lambda root: root),
    "gemini": Provider(GeminiCaptioner, "GEMINI_API_KEY", lambda root: root),
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_api_env(monkeypatch)


@dataclass
class Setup:
    name: str
    provider: Provider
    server: FakeServer
    #: The backend most tests use, built once per provider (client construction costs ~0.1 s).
    backend: APICaptioner
    monkeypatch: pytest.MonkeyPatch
    made: list[APICaptioner]

    def make(self, **options: Any) -> APICaptioner:
        """A fresh backend pointed at the fake server, key from the environment as a user would set it."""
        if self.provider.key_env:
            self.monkeypatch.setenv(self.provider.key_env, KEY)
        backend = self.provider.cls(**(_options(self.provider, self.server) | options))
        self.made.append(backend)
        return backend


def _options(provider: Provider, server: FakeServer) -> dict[str, Any]:
    return {"model": "test-model", "base_url": provider.base(server.url), "retry_delay": 0.01, "timeout": 10}


@pytest.fixture(scope="module", params=sorted(PROVIDERS))
def running(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeServer, APICaptioner]]:
    provider = PROVIDERS[request.param]
    with serve(request.param) as server:
        backend = provider.cls(api_key=KEY, **_options(provider, server))
        yield request.param, server, backend
        backend.close()


@pytest.fixture
def api(running: tuple[str, FakeServer, APICaptioner], monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    name, server, backend = running
    server.reset()
    setup = Setup(name, PROVIDERS[name], server, backend, monkeypatch, [])
    yield setup
    for made in setup.made:
        made.close()


def square(colour: str, size: tuple[int, int] = (64, 64)) -> Image.Image:
    return Image.new("RGB", size, colour)


def jpeg_size(data: bytes) -> tuple[int, int]:
    assert data[:3] == b"\xff\xd8\xff", "not a JPEG"
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image.size


# --- captions --------------------------------------------------------------


def test_batch_is_captioned_in_order_with_cleaned_text(api: Setup) -> None:
    backend = api.backend
    results = backend.caption([square("red"), square("green"), square("blue")], TASK_CAPTION)

    # The server said "The image shows a red square."; the stored caption is the cleaned one.
    assert [r.text for r in results] == ["A red square.", "A green square.", "A blue square."]
    assert all(r.ocr_text == "" for r in results)
    assert len(api.server.requests) == 3
    seen = []
    for request in api.server.requests:
        assert len(request.images) == 1
        assert jpeg_size(request.images[0]) == (64, 64)
        assert request.prompt == prompt_for("chat", TASK_CAPTION)
        seen.append(colour_name(request.decoded()[0]))
    assert sorted(seen) == ["blue", "green", "red"]


def test_request_names_model_and_carries_key_from_environment(api: Setup) -> None:
    backend = api.make()
    backend.caption([square("red")])
    (request,) = api.server.requests
    if api.name == "gemini":
        assert request.path.split("/", 2)[2] == "models/test-model:generateContent"
    else:
        assert request.body["model"] == "test-model"
    if api.provider.key_env:
        # Whichever header the client library puts it in (anthropic 2.x sends a Bearer token, 0.x x-api-key).
        carriers = {"authorization": f"Bearer {KEY}", "x-api-key": KEY, "x-goog-api-key": KEY}
        assert any(request.headers.get(header) == value for header, value in carriers.items())


def test_large_images_are_downscaled_to_max_side(api: Setup) -> None:
    backend = api.backend
    backend.caption([square("red", (1600, 800))])
    assert jpeg_size(api.server.requests[-1].images[0]) == (1024, 512)

    small = api.make(max_side=300)
    small.caption([square("red", (1600, 800))])
    assert jpeg_size(api.server.requests[-1].images[0]) == (300, 150)


@pytest.mark.parametrize("task", [TASK_DETAILED, TASK_ALT_TEXT, TASK_OCR])
def test_each_task_sends_its_shared_prompt(api: Setup, task: str) -> None:
    backend = api.backend
    (result,) = backend.caption([square("red")], task)
    (request,) = api.server.requests
    assert request.prompt == prompt_for("chat", task)
    first_line = prompt_for("chat", task).splitlines()[0]
    assert result.text.lower().startswith("red | ") and first_line[:20] in result.text
    assert result.ocr_text == (result.text if task == TASK_OCR else "")


def test_ocr_output_is_cleaned_into_ocr_text(api: Setup) -> None:
    api.server.reply = lambda request: "The text reads: OPEN\n24 HOURS"
    backend = api.backend
    (result,) = backend.caption([square("red")], TASK_OCR)
    assert result.text == result.ocr_text == "OPEN\n24 HOURS"

    api.server.reply = lambda request: "NO TEXT"
    (result,) = backend.caption([square("red")], TASK_OCR)
    assert result.text == result.ocr_text == ""


def test_truncated_reply_is_cleaned_as_truncated(api: Setup) -> None:
    api.server.reply = lambda request: "A red square on a white table. A second sentence that was cut off by the"
    api.server.truncate = True
    (result,) = api.backend.caption([square("red")], TASK_DETAILED)
    assert result.text == "A red square on a white table."
    assert result.extra == {"truncated": True}


def test_ask_answers_each_question_about_its_image(api: Setup) -> None:
    backend = api.backend
    answers = backend.ask([square("red"), square("blue")], ["What colour is it?", "Is it round?"])
    assert [a.text for a in answers] == ["Red | What colour is it?", "Blue | Is it round?"]
    assert all(a.answered and a.source == "vlm" for a in answers)
    prompts = sorted(r.prompt for r in api.server.requests)
    assert prompts == sorted(prompt_for("chat", TASK_ASK, q) for q in ["What colour is it?", "Is it round?"])


def test_empty_batch_sends_nothing(api: Setup) -> None:
    backend = api.backend
    assert backend.caption([]) == []
    assert backend.ask([], []) == []
    assert api.server.requests == []


def test_unknown_task_is_refused(api: Setup) -> None:
    with pytest.raises(ValueError, match="does not support task"):
        api.backend.caption([square("red")], "poem")


# --- failures ----------------------------------------------------------------


def test_server_error_is_retried(api: Setup) -> None:
    api.server.failures = [(500, "the server had an error"), (503, "overloaded")]
    (result,) = api.backend.caption([square("red")])
    assert result.text == "A red square."
    assert len(api.server.requests) == 3


def test_rate_limit_is_retried(api: Setup) -> None:
    api.server.failures = [(429, "slow down")]
    (result,) = api.backend.caption([square("green")])
    assert result.text == "A green square."
    assert len(api.server.requests) == 2


def test_client_error_raises_with_provider_message_without_retry(api: Setup) -> None:
    api.server.failures = [(400, "model 'nope' is not a vision model")] * 5
    with pytest.raises(APIRequestError, match="model 'nope' is not a vision model") as info:
        api.backend.caption([square("red")])
    assert info.value.status == 400
    assert api.name in str(info.value)
    assert len(api.server.requests) == 1


def test_retries_give_up_after_max_retries(api: Setup) -> None:
    api.server.failures = [(500, "still broken")] * 10
    with pytest.raises(APIRequestError, match="500") as info:
        api.make(max_retries=1).caption([square("red")])
    assert info.value.status == 500
    assert len(api.server.requests) == 2


def test_one_failing_image_does_not_cost_the_others(api: Setup) -> None:
    """The batch goes on, and PartialBatch hands the pipeline what succeeded, so nothing is paid for twice."""
    api.server.failures = [(400, "image 1 is bad")]
    with pytest.raises(PartialBatch) as info:
        api.make(concurrency=1).caption([square("red"), square("green"), square("blue")])
    first, second, third = info.value.results
    assert isinstance(first, APIRequestError) and "image 1 is bad" in str(first)
    assert isinstance(second, CaptionResult) and isinstance(third, CaptionResult)
    assert [second.text, third.text] == ["A green square.", "A blue square."]
    assert info.value.stopped is None
    assert len(api.server.requests) == 3


@pytest.mark.parametrize(
    ("status", "message"), [(401, "invalid api key"), (403, "forbidden"), (404, "model 'nope' not found")]
)
def test_refused_key_or_unknown_model_stops_the_backend(api: Setup, status: int, message: str) -> None:
    api.server.failures = [(status, message)] * 5
    backend = api.make(concurrency=1)
    with pytest.raises(PartialBatch) as info:
        backend.caption([square("red"), square("green"), square("blue")])
    assert all(isinstance(r, CaptionerStopped) for r in info.value.results)
    assert message in str(info.value.stopped)
    assert len(api.server.requests) == 1  # the images after it were never sent
    with pytest.raises(CaptionerStopped, match=message):
        backend.caption([square("red")])
    assert len(api.server.requests) == 1
    assert backend.usage == Usage(requests=1, failed_requests=1)


def test_a_run_of_failures_stops_the_backend(api: Setup) -> None:
    """A dead server costs a few requests, not one per photo."""
    api.server.failures = [(500, "down")] * 20
    backend = api.make(concurrency=1, max_retries=0, max_consecutive_failures=2)
    with pytest.raises(PartialBatch) as info:
        backend.caption([square("red")] * 4)
    first, *rest = info.value.results
    assert isinstance(first, APIRequestError) and not isinstance(first, CaptionerStopped)
    assert all(isinstance(r, CaptionerStopped) for r in rest)
    assert "2 requests in a row failed" in str(info.value.stopped)
    assert len(api.server.requests) == 2


def test_a_success_resets_the_run_of_failures(api: Setup) -> None:
    api.server.failures = [(500, "down")]
    backend = api.make(concurrency=1, max_retries=0, max_consecutive_failures=2)
    with pytest.raises(PartialBatch):
        backend.caption([square("red"), square("green")])
    api.server.failures = [(500, "down again")]
    with pytest.raises(PartialBatch) as info:
        backend.caption([square("red"), square("blue")])
    assert info.value.stopped is None  # fail, ok, fail, ok: never two in a row
    assert len(api.server.requests) == 4


def test_request_budget_stops_exactly(api: Setup) -> None:
    backend = api.make(concurrency=2, max_requests=3)
    with pytest.raises(PartialBatch) as info:
        backend.caption([square("red")] * 5)
    done = [r for r in info.value.results if not isinstance(r, Exception)]
    assert len(done) == 3
    assert "--max-requests 3" in str(info.value.stopped)
    assert len(api.server.requests) == 3
    assert backend.usage.requests == 3


def test_token_budget_stops_before_the_next_request(api: Setup) -> None:
    # Each fake reply costs 100 tokens per image plus the prompt and reply words.
    backend = api.make(concurrency=1, max_tokens=150)
    with pytest.raises(PartialBatch) as info:
        backend.caption([square("red")] * 4)
    assert [type(r).__name__ for r in info.value.results] == [
        "CaptionResult",
        "CaptionResult",
        "CaptionerStopped",
        "CaptionerStopped",
    ]
    assert "token budget" in str(info.value.stopped)
    assert len(api.server.requests) == 2


def test_token_usage_is_summed_from_the_provider_reports(api: Setup) -> None:
    backend = api.make()
    backend.caption([square("red"), square("green"), square("blue")])
    backend.caption([square("red")], TASK_DETAILED)
    expected_in = expected_out = 0
    for request in api.server.requests:
        tokens_in, tokens_out = token_counts(request, default_reply(request))
        expected_in += tokens_in
        expected_out += tokens_out
    assert backend.usage == Usage(requests=4, failed_requests=0, input_tokens=expected_in, output_tokens=expected_out)
    assert expected_in > 400 and expected_out > 0


def test_a_request_that_outlives_the_timeout_fails_in_time(api: Setup) -> None:
    release = threading.Event()

    def hang(request: Received) -> str:
        release.wait(10)
        return "too late"

    api.server.reply = hang
    backend = api.make(timeout=0.5, max_retries=0)
    started = time.monotonic()
    try:
        with pytest.raises(APIRequestError, match="(?i)time") as info:
            backend.caption([square("red")])
    finally:
        release.set()
    assert time.monotonic() - started < 5
    assert not isinstance(info.value, CaptionerStopped)
    assert backend.usage.failed_requests == 1


def test_requests_of_a_batch_run_concurrently(api: Setup) -> None:
    gauge = InFlight(target=3)

    def held(request: Received) -> str:
        gauge.hold()
        return "A square."

    api.server.reply = held
    api.make(concurrency=3).caption([square("red")] * 3)
    assert gauge.peak == 3
    # One at a time: each request waits out a short patience hoping for company that must not come.
    gauge = InFlight(target=2, patience=0.3)
    api.make(concurrency=1).caption([square("red")] * 2)
    assert gauge.peak == 1


def test_empty_reply_is_an_error_not_an_empty_caption(api: Setup) -> None:
    api.server.reply = lambda request: ""
    with pytest.raises(APIRequestError, match="empty reply"):
        api.backend.caption([square("red")])


# --- setup -------------------------------------------------------------------


def test_model_id_names_backend_model_and_host(api: Setup) -> None:
    backend = api.backend
    port = api.server.url.rsplit(":", 1)[1]
    assert backend.model_id == f"{api.name}:test-model@127.0.0.1:{port}"
    assert KEY not in repr(backend)


def test_key_never_appears_in_logs(api: Setup, caplog: pytest.LogCaptureFixture) -> None:
    api.server.failures = [(500, "retry me")]
    with caplog.at_level(logging.DEBUG):
        api.backend.caption([square("red")])
    assert KEY not in caplog.text


@pytest.mark.parametrize("name", [n for n, p in sorted(PROVIDERS.items()) if p.key_env])
def test_missing_key_is_unavailable_naming_the_variable(name: str) -> None:
    provider = PROVIDERS[name]
    with pytest.raises(CaptionerUnavailable, match=provider.key_env or ""):
        provider.cls(model="m")


def test_openai_compatible_server_needs_no_key() -> None:
    with serve("openai") as server:
        backend = OpenAICaptioner(model="llava", base_url=f"{server.url}/v1")
        try:
            assert backend.caption([square("red")])[0].text == "A red square."
        finally:
            backend.close()


def test_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve("openai") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        backend = OpenAICaptioner(model="m")
        try:
            backend.caption([square("blue")])
            assert backend.model_id.endswith(f"@{host_of(server.url)}")
            assert len(server.requests) == 1
        finally:
            backend.close()
    with serve("ollama") as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        ollama_backend = OllamaCaptioner(model="llava:13b")
        try:
            assert ollama_backend.caption([square("green")])[0].text == "A green square."
            assert server.requests[0].body["model"] == "llava:13b"
        finally:
            ollama_backend.close()


def test_unreachable_ollama_says_so() -> None:
    with serve("ollama") as server:
        url = server.url  # closed once the block ends
    backend = OllamaCaptioner(model="llava", base_url=url, max_retries=0)
    try:
        with pytest.raises(APIRequestError, match="cannot reach Ollama"):
            backend.caption([square("red")])
    finally:
        backend.close()


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_missing_package_is_unavailable_naming_the_extra(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = PROVIDERS[name]
    monkeypatch.setitem(sys.modules, provider.cls.module, None)
    if provider.key_env:
        monkeypatch.setenv(provider.key_env, KEY)
    reason = provider.cls.available()
    assert reason is not None and "picscribe[api]" in reason and provider.cls.package in reason
    with pytest.raises(CaptionerUnavailable, match=r"picscribe\[api\]"):
        provider.cls(model="m")


def test_bad_options_are_value_errors() -> None:
    bad_options: list[dict[str, Any]] = [
        {"concurrency": 0},
        {"max_new_tokens": 0},
        {"max_side": 4},
        {"max_retries": -1},
    ]
    for bad in bad_options:
        with pytest.raises(ValueError):
            OllamaCaptioner(model="m", **bad)


def test_encoding_flattens_transparency_and_palette() -> None:
    rgba = Image.new("RGBA", (40, 20), (255, 0, 0, 0))
    flat = Image.open(io.BytesIO(encode_jpeg(rgba)))
    assert flat.mode == "RGB" and flat.size == (40, 20)
    pixel = flat.getpixel((20, 10))
    assert isinstance(pixel, tuple)
    assert pixel[0] > 240 and pixel[1] > 240  # white, not black
    grey = Image.open(io.BytesIO(encode_jpeg(Image.new("L", (10, 30), 128), max_side=15)))
    assert grey.mode == "RGB" and grey.size == (5, 15)


@pytest.mark.parametrize(
    ("spec", "model"),
    [
        ("openai:gpt-4o-mini", "gpt-4o-mini"),
        ("ollama:llava:13b", "llava:13b"),
        ("gemini", GeminiCaptioner.default_model),
    ],
)
def test_registry_builds_backends_from_a_spec(spec: str, model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """As ``--captioner SPEC`` does, through the entry points in pyproject.toml."""
    from picscribe.indexer import registry

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    # The options picscribe hands every backend; an API backend reads its own and ignores the VLM-only ones.
    options = CaptionerOptions(batch_size="auto", max_new_tokens=64, trust_remote_code=False, concurrency=2)
    backend = registry.create(spec, device="cuda", options=options)
    try:
        assert isinstance(backend, APICaptioner)
        assert backend.model == model and backend.max_new_tokens == 64 and backend.max_concurrency == 2
        assert backend.metered and backend.can_ask and backend.usage == Usage()
        assert backend.model_id.startswith(f"{spec.split(':')[0]}:{model}@")
    finally:
        backend.close()


def test_auto_falls_back_when_the_configured_api_has_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from picscribe.indexer import registry

    choice = registry.choose("auto", vlm="anthropic:claude-haiku-4-5")
    assert choice.captioner.name == "offline"
    assert "ANTHROPIC_API_KEY" in choice.reason
