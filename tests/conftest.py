"""Shared fixtures. Every test gets its own index dir; nothing touches the
user's real picscribe home or any model hub."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest
from click.testing import CliRunner, Result

from picscribe.cli import main

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "data" / "samples" / "images"


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the unzipped embedding model, shared by the session."""
    return tmp_path_factory.mktemp("picscribe-cache")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_cache: Path) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("PICSCRIBE_HOME", str(home))
    monkeypatch.setenv("PICSCRIBE_CACHE", str(model_cache))
    for var in (
        "PICSCRIBE_CAPTIONER",
        "PICSCRIBE_VLM",
        "PICSCRIBE_DEVICE",
        "PICSCRIBE_EMBEDDER",
        "PICSCRIBE_ROOTS",
        "PICSCRIBE_UI_ALLOW_INDEX_ANYWHERE",
    ):
        monkeypatch.delenv(var, raising=False)
    # A test that reaches for a hub fails fast instead of hanging.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    return home


@pytest.fixture
def home(isolated_env: Path) -> Path:
    return isolated_env


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A private copy of six sample photos, safe to move, edit and delete."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for src in sorted(SAMPLES.glob("*.jpg"))[:6]:
        shutil.copy2(src, folder / src.name)
    return folder


Run = Callable[..., Result]


@pytest.fixture
def run() -> Run:
    """Invoke the CLI in-process (models load once per test session)."""

    def _run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)

    return _run


def index_json(run: Run, *args: str) -> tuple[int, dict]:
    result = run("index", *args, "--captioner", "fake", "--json")
    return result.exit_code, json.loads(result.stdout)


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Turn a hang (a FIFO opened, a symlink loop walked forever) into a test failure."""

    def boom(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"still running after {seconds}s")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


#: The uid and gid tests drop to where file permissions must apply (root ignores them).
NOBODY = 65534


@contextmanager
def unprivileged() -> Iterator[None]:
    """Root reads and writes anything whatever the mode bits: run as nobody for the duration."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temp dir that an unprivileged user can use (pytest's tmp_path is 0700)."""
    root = Path(tempfile.mkdtemp(prefix="picscribe-shared-"))
    root.chmod(0o777)
    try:
        yield root
    finally:
        for p in [root, *root.rglob("*")]:
            if not p.is_symlink():
                p.chmod(0o777)
        shutil.rmtree(root)
