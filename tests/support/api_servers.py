"""Local stand-ins for the caption APIs, close enough for the real client libraries.

Each server is stdlib ``http.server`` on 127.0.0.1 (port 0) in a daemon
thread. It records every request (headers, JSON body, the prompt text and
the decoded images) and answers with a reply computed from the request, so
a test can tell that the image and the prompt really arrived:

- OpenAI Chat Completions: ``POST /v1/chat/completions``
- Ollama: ``POST /api/chat`` (and ``GET /api/tags``, ``GET /api/version``)
- Anthropic Messages: ``POST /v1/messages``
- Gemini: ``POST /v1beta/models/{model}:generateContent`` (or ``/v1/...``, the google-genai 3 default)

``server.failures`` is a queue of ``(status, message)`` answered, one per
request, before the normal reply, each in the provider's error format.
``server.reject`` fails chosen requests instead, whenever they arrive: it
returns ``(status, message)`` for a request to refuse (one specific image),
or None to answer it.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    prompt: str
    #: Raw bytes of each image the request carried (base64-decoded).
    images: list[bytes]

    def decoded(self) -> list[Image.Image]:
        out: list[Image.Image] = []
        for data in self.images:
            image = Image.open(io.BytesIO(data))
            image.load()
            out.append(image)
        return out


def colour_name(image: Image.Image) -> str:
    """The dominant primary of the image's centre pixel: how replies tell the images of a batch apart."""
    pixel = image.convert("RGB").getpixel((image.width // 2, image.height // 2))
    assert isinstance(pixel, tuple), "an RGB image's pixel is a tuple of bands"
    r, g, b = pixel[:3]
    return max((r, "red"), (g, "green"), (b, "blue"))[1]


def token_counts(request: Received, text: str) -> tuple[int, int]:
    """The usage every fake server reports: prompt words plus 100 per image in, reply words out."""
    return len(request.prompt.split()) + 100 * len(request.images), len(text.split())


def default_reply(request: Received) -> str:
    """ "The image shows a red square." for captions; for anything else the colour and the prompt's first line."""
    colour = colour_name(request.decoded()[0]) if request.images else "no-image"
    if request.prompt.startswith("Write a one-sentence caption"):
        return f"The image shows a {colour} square."
    return f"{colour} | {request.prompt.splitlines()[0]}"


class InFlight:
    """Counts requests in flight at once, without depending on how fast the machine is.

    Each request is held until ``target`` requests are in flight together (or
    ``patience`` seconds pass). With working concurrency the peak is then
    exactly ``target`` however loaded the machine is; a sleep instead would
    let a slow thread start after the others finished and under-count.
    Requests that cannot overlap (concurrency 1) each wait out ``patience``,
    so keep it short for those.
    """

    def __init__(self, target: int, patience: float = 10.0) -> None:
        self.target = target
        self.patience = patience
        self.now = 0
        self.peak = 0
        self._changed = threading.Condition()

    def hold(self) -> None:
        with self._changed:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self._changed.notify_all()
            self._changed.wait_for(lambda: self.peak >= self.target, timeout=self.patience)
        with self._changed:
            self.now -= 1


@dataclass
class FakeServer:
    protocol: str
    requests: list[Received] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)
    reply: Callable[[Received], str] = default_reply
    reject: Callable[[Received], tuple[int, str] | None] | None = None
    #: Report that generation stopped at the token limit, in the provider's words.
    truncate: bool = False
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        """Forget earlier requests and go back to the default behaviour (one server serves many tests)."""
        with self.lock:
            self.requests.clear()
            self.failures.clear()
            self.reply = default_reply
            self.reject = None
            self.truncate = False


def _b64(data: str) -> bytes:
    if data.startswith("data:"):
        data = data.split(",", 1)[1]
    if "-" in data or "_" in data:  # google-genai sends URL-safe base64, which Gemini accepts too
        return base64.urlsafe_b64decode(data)
    return base64.b64decode(data, validate=True)


# --- per-protocol parsing and answers -------------------------------------


def _parse_openai(body: dict[str, Any]) -> tuple[str, list[bytes]]:
    texts, images = [], []
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            texts.append(content)
            continue
        for part in content:
            if part["type"] == "text":
                texts.append(part["text"])
            elif part["type"] == "image_url":
                images.append(_b64(part["image_url"]["url"]))
    return "\n".join(texts), images


def _answer_openai(body: dict[str, Any], text: str, truncated: bool, tokens: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "length" if truncated else "stop",
            }
        ],
        "usage": {"prompt_tokens": tokens[0], "completion_tokens": tokens[1], "total_tokens": sum(tokens)},
    }


def _error_openai(status: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}


def _parse_ollama(body: dict[str, Any]) -> tuple[str, list[bytes]]:
    texts: list[str] = []
    images: list[bytes] = []
    for message in body["messages"]:
        texts.append(message.get("content", ""))
        images.extend(_b64(image) for image in message.get("images") or [])
    return "\n".join(texts), images


def _answer_ollama(body: dict[str, Any], text: str, truncated: bool, tokens: tuple[int, int]) -> dict[str, Any]:
    return {
        "model": body["model"],
        "created_at": "2024-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": text},
        "done": True,
        "done_reason": "length" if truncated else "stop",
        "prompt_eval_count": tokens[0],
        "eval_count": tokens[1],
    }


def _error_ollama(status: int, message: str) -> dict[str, Any]:
    return {"error": message}


def _parse_anthropic(body: dict[str, Any]) -> tuple[str, list[bytes]]:
    texts, images = [], []
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            texts.append(content)
            continue
        for block in content:
            if block["type"] == "text":
                texts.append(block["text"])
            elif block["type"] == "image":
                assert block["source"]["type"] == "base64"
                assert block["source"]["media_type"] == "image/jpeg"
                images.append(_b64(block["source"]["data"]))
    return "\n".join(texts), images


def _answer_anthropic(body: dict[str, Any], text: str, truncated: bool, tokens: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [{"type": "text", "text": text}],
        "stop_reason": "max_tokens" if truncated else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1]},
    }


def _error_anthropic(status: int, message: str) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "api_error"
    return {"type": "error", "error": {"type": kind, "message": message}}


def _parse_gemini(body: dict[str, Any]) -> tuple[str, list[bytes]]:
    texts, images = [], []
    for content in body["contents"]:
        for part in content["parts"]:
            if "text" in part:
                texts.append(part["text"])
            inline = part.get("inlineData") or part.get("inline_data")
            if inline:
                assert (inline.get("mimeType") or inline.get("mime_type")) == "image/jpeg"
                images.append(_b64(inline["data"]))
    return "\n".join(texts), images


def _answer_gemini(body: dict[str, Any], text: str, truncated: bool, tokens: tuple[int, int]) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": text}]},
                "finishReason": "MAX_TOKENS" if truncated else "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": tokens[0],
            "candidatesTokenCount": tokens[1],
            "totalTokenCount": sum(tokens),
        },
        "modelVersion": "test",
    }


def _error_gemini(status: int, message: str) -> dict[str, Any]:
    kind = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"}.get(status, "INTERNAL")
    return {"error": {"code": status, "message": message, "status": kind}}


PROTOCOLS = {
    "openai": (_parse_openai, _answer_openai, _error_openai),
    "ollama": (_parse_ollama, _answer_ollama, _error_ollama),
    "anthropic": (_parse_anthropic, _answer_anthropic, _error_anthropic),
    "gemini": (_parse_gemini, _answer_gemini, _error_gemini),
}


def _route_ok(protocol: str, path: str) -> bool:
    path = path.split("?", 1)[0]
    if protocol == "openai":
        return path == "/v1/chat/completions"
    if protocol == "ollama":
        return path == "/api/chat"
    if protocol == "anthropic":
        return path == "/v1/messages"
    # google-genai 1.x calls v1beta, later releases v1; the request body is the same.
    return path.startswith(("/v1beta/models/", "/v1/models/")) and path.endswith(":generateContent")


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    parse, answer, error = PROTOCOLS[server.protocol]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as separate writes; without TCP_NODELAY each
        # response waits out the client's delayed ACK (~40 ms).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if server.protocol == "ollama" and self.path == "/api/tags":
                self._send(200, {"models": [{"name": "llava:latest", "model": "llava:latest"}]})
            elif server.protocol == "ollama" and self.path == "/api/version":
                self._send(200, {"version": "0.0.0-test"})
            else:
                self._send(404, error(404, f"no route {self.path}"))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not _route_ok(server.protocol, self.path):
                self._send(404, error(404, f"no route {self.path}"))
                return
            try:
                prompt, images = parse(body)
            except Exception as exc:  # a malformed request fails the test with a reason, not a hang-up
                self._send(400, error(400, f"fake server cannot parse the request: {exc!r}"))
                return
            request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, prompt, images)
            with server.lock:
                server.requests.append(request)
                failure = server.failures.pop(0) if server.failures else None
            if failure is None and server.reject is not None:
                failure = server.reject(request)
            if failure is not None:
                status, message = failure
                # Tell retrying clients to wait only a moment (OpenAI and Anthropic honour it).
                self._send(status, error(status, message), {"retry-after-ms": "10"})
                return
            text = server.reply(request)
            self._send(200, answer(body, text, server.truncate, token_counts(request, text)))

    return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out has hung up before the answer: expected in the timeout tests.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serve(protocol: str) -> Iterator[FakeServer]:
    """A running fake server for ``protocol``; ``server.url`` is its root (http://127.0.0.1:PORT)."""
    fake = FakeServer(protocol)
    httpd = _QuietServer(("127.0.0.1", 0), _handler(fake))
    httpd.daemon_threads = True
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# --- shared by the API test modules ----------------------------------------

#: Every variable the four client libraries read: a developer's own keys or
#: proxies must not leak into (or redirect) a test.
API_ENV_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GEMINI_BASE_URL",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_API_VERSION",
    "OLLAMA_HOST",
    "OLLAMA_API_KEY",
)


def require_clients() -> None:
    """The client libraries are the optional `api` extra; scripts/setup.sh installs
    it, and CI (PICSCRIBE_REQUIRE_API=1) must fail rather than skip without it."""
    import os

    import pytest

    for client in ("openai", "anthropic", "ollama", "google.genai"):
        if os.environ.get("PICSCRIBE_REQUIRE_API") == "1":
            __import__(client)
        else:
            pytest.importorskip(client)


def isolate_api_env(monkeypatch: Any) -> None:
    for var in API_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    # A proxy from the environment must not sit between the client and 127.0.0.1.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
