"""Shared fixtures. Every test gets its own index dir; nothing touches the
user's real picscribe home or any model hub.

The suite is in tiers (see CONTRIBUTING.md): ``unit`` (no disk index, no
subprocess), ``integration`` (real SQLite, FAISS, watchdog, the CLI in-process)
and ``e2e`` (CLI subprocesses, the demo, the browser, API servers, models).
Each test is marked with its tier's name from its folder, so ``-m`` can pick.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support.cli import Run
from support.paths import SAMPLES

from picscribe.cli import main

# Fixtures shared by tests in several files: library and start_watcher (watching),
# tiny_vlm and torch_single_thread (tiny_vlms; importing it loads no model library);
# and the session's Ray cluster, ray_cluster (importing it imports no Ray).
pytest_plugins = ["support.watching", "support.tiny_vlms", "support.ray_cluster"]

TIERS = ("unit", "integration", "e2e")
#: Environment the suite itself is run with (.ci/run), not settings under test.
KEPT_SETTINGS = frozenset(
    {
        "PICSCRIBE_REQUIRE_TESSERACT",
        "PICSCRIBE_REQUIRE_BROWSER",
        "PICSCRIBE_REQUIRE_API",
        "PICSCRIBE_REQUIRE_RAY",
        "PICSCRIBE_REQUIRE_EXIFTOOL",
        "PICSCRIBE_REQUIRE_MULTILINGUAL",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = next((part for part in item.path.parts if part in TIERS), None)
        if tier is None:
            raise pytest.UsageError(f"{item.path}: tests live under tests/unit, tests/integration or tests/e2e")
        item.add_marker(tier)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the unzipped embedding model, shared by the session."""
    return tmp_path_factory.mktemp("picscribe-cache")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_cache: Path) -> Path:
    # Any PICSCRIBE_* setting left in the developer's shell would reach the
    # code under test (config reads the environment): clear them all first.
    for var in [v for v in os.environ if v.startswith("PICSCRIBE_") and v not in KEPT_SETTINGS]:
        monkeypatch.delenv(var)
    home = tmp_path / "home"
    monkeypatch.setenv("PICSCRIBE_HOME", str(home))
    monkeypatch.setenv("PICSCRIBE_CACHE", str(model_cache))
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


@pytest.fixture
def run() -> Run:
    """Invoke the CLI in-process (models load once per test session)."""

    def _run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)

    return _run


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
