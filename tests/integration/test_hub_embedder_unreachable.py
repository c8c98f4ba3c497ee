"""Switching to a hub embedder with the hub out of reach is one clear error,
at once, not a minute of retry warnings (issue 22, item 4)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from support.cli import Run


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_uncached_hub_embedder_without_a_hub_is_one_clear_error(
    run: Run, photos: Path, monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    # Online mode, so the probe (and not offline mode's own fast failure) is what answers.
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE")
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("PICSCRIBE_EMBEDDER", "picscribe-tests/no-such-embedder")
    result = run("index", str(photos), "--captioner", "fake")
    assert result.exit_code == 1
    assert "cannot load embedding model 'picscribe-tests/no-such-embedder'" in result.stderr
    assert f"the hub cannot be reached (127.0.0.1:{closed_port}" in result.stderr
    assert "hf download picscribe-tests/no-such-embedder" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2, result.stderr
