"""The chaos runner (scripts/chaos.py), short: 10 kill -9s of the real CLI over a
small mutating library, every invariant checked after each kill. The long run
(50 kills) is a documented command in the README.

The second half damages a copy of the index the run left behind, one way at a
time, and shows each check catches its damage: a check that cannot fail would
make the clean run above prove nothing."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support.paths import REPO

pytestmark = pytest.mark.slow

SCRIPT = REPO / "scripts" / "chaos.py"


def _load_chaos() -> ModuleType:
    spec = importlib.util.spec_from_file_location("picscribe_chaos", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


chaos = _load_chaos()


@pytest.fixture(scope="module")
def chaos_run(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> tuple[subprocess.CompletedProcess, Path]:
    workdir = tmp_path_factory.mktemp("chaos")
    env = {**os.environ, "PICSCRIBE_CACHE": str(model_cache)}
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--kills",
            "10",
            "--seed",
            "13",
            "--photos",
            "120",
            "--workdir",
            str(workdir),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    return result, workdir


def test_ten_kills_lose_duplicate_and_strand_nothing(chaos_run: tuple[subprocess.CompletedProcess, Path]) -> None:
    result, _ = chaos_run
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    summary = json.loads(result.stdout)
    commands = summary["commands"]
    assert sum(c["kills"] for c in commands.values()) == 10
    assert all(c["kills"] >= 3 for c in commands.values()), commands
    # Most kills land after the run has committed something, not in its start-up.
    assert sum(c["mid_write"] for c in commands.values()) >= 5, commands
    for row in [*commands.values(), summary["final"]]:
        assert {k: row[k] for k in chaos.VIOLATION_KINDS} == dict.fromkeys(chaos.VIOLATION_KINDS, 0), row
    assert summary["final"]["rc"] == 0 and summary["final"]["rows"] == summary["photos"]
    assert summary["ok"] is True and summary["details"] == []
    assert sum(summary["mutations"].values()) > 50 and summary["mutations"]["folder moves"] >= 1
    assert "Traceback" not in result.stderr


# -- each check catches the damage it is there for ----------------------------


@pytest.fixture
def converged(chaos_run: tuple[subprocess.CompletedProcess, Path], tmp_path: Path) -> tuple[Path, Any]:
    """A private copy of the converged index and library, and the runner's view of that library."""
    _, workdir = chaos_run
    home = tmp_path / "chaos-home"
    shutil.copytree(workdir / "home", home)
    library = workdir / "library"
    lib = chaos.Library(library, chaos.random.Random(0))
    for p in library.rglob("*"):
        if p.is_file():
            lib.truth[str(p)] = chaos.hashlib.sha256(p.read_bytes()).hexdigest()
    return home, lib


def _damage(home: Path, *statements: str) -> None:
    with sqlite3.connect(home / "index.sqlite") as db:
        db.execute("PRAGMA foreign_keys = ON")
        for sql in statements:
            db.execute(sql)


def _verdict(home: Path, lib: Any, before: dict[str, str] | None = None) -> Any:
    verdict = chaos.Verdict()
    st = chaos.read_db(home)
    chaos.check_store(home, st, verdict)
    chaos.check_kept(before if before is not None else st.ok_rows(), lib.truth, st, verdict)
    chaos.check_converged(lib, st, verdict)
    return verdict


def test_the_checks_pass_on_the_converged_index(converged: tuple[Path, Any]) -> None:
    home, lib = converged
    verdict = _verdict(home, lib)
    assert not verdict.violations, verdict.details


def test_a_forgotten_photo_is_lost(converged: tuple[Path, Any]) -> None:
    home, lib = converged
    before = chaos.read_db(home).ok_rows()
    victim = sorted(before)[0]
    _damage(home, f"DELETE FROM images WHERE path = '{victim}'")
    verdict = _verdict(home, lib, before)
    assert verdict.violations["lost"] == 2  # once since the run (kept), once against the disk (converged)
    assert any(victim in d for d in verdict.details)


def test_a_second_row_for_one_photo_is_duplicated(converged: tuple[Path, Any]) -> None:
    home, lib = converged
    _damage(
        home,
        "INSERT INTO images (path, content_hash, size, mtime_ns, status, indexed_at)"
        " SELECT path || '.old', content_hash, size, mtime_ns, status, indexed_at FROM images LIMIT 1",
    )
    verdict = _verdict(home, lib)
    assert verdict.violations["duplicated"] == 1 and verdict.violations["stale"] == 1


def test_a_good_photo_left_failed_is_stuck(converged: tuple[Path, Any]) -> None:
    home, lib = converged
    _damage(
        home,
        "UPDATE images SET status = 'failed', content_hash = NULL, error = 'file disappeared before it could be read'"
        " WHERE path = (SELECT min(path) FROM images)",
    )
    verdict = _verdict(home, lib)
    assert verdict.violations["stuck"] == 1 and verdict.violations["lost"] == 0


def test_a_failed_row_still_searchable_breaks_caption_and_faiss(converged: tuple[Path, Any]) -> None:
    home, lib = converged
    # The row fails but keeps its hash: its current caption has no ok row now,
    # and the store's own count (which trusts current_captions) disagrees with ours.
    _damage(home, "UPDATE images SET status = 'failed' WHERE path = (SELECT min(path) FROM images)")
    verdict = _verdict(home, lib)
    assert verdict.violations["caption"] == 1 and verdict.violations["faiss"] >= 1, verdict.details


def test_missing_current_caption_and_keyword_row_are_caught(converged: tuple[Path, Any]) -> None:
    home, lib = converged
    _damage(home, "DELETE FROM current_captions WHERE content_hash = (SELECT min(content_hash) FROM current_captions)")
    verdict = _verdict(home, lib)
    # no current caption, and the keyword index still holds its row
    assert verdict.violations["caption"] == 2, verdict.details


def test_search_switched_before_a_reindex_finished_is_caught(converged: tuple[Path, Any]) -> None:
    home, _ = converged
    _damage(home, "UPDATE meta SET value = 'fake-never' WHERE key = 'active_model'")
    verdict = chaos.Verdict()
    chaos.check_switch("never", chaos.read_db(home), verdict)
    assert verdict.violations["switch"] > 0


def test_a_broken_database_file_fails_integrity(converged: tuple[Path, Any]) -> None:
    home, _ = converged
    db = home / "index.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'ix_images_content_hash_status'"
        ).fetchone()
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    assert root is not None
    with db.open("r+b") as f:  # wipe the index's root page: the table is intact, its index is not
        f.seek((root[0] - 1) * page_size)
        f.write(b"\x00" * page_size)
    verdict = chaos.Verdict()
    chaos.check_store(home, chaos.read_db(home), verdict)
    assert verdict.violations["integrity"] >= 1, verdict.details


def test_a_traceback_in_a_run_log_is_a_crash(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("captioner: fake\nTraceback (most recent call last):\n  File ...\nKeyError: 'x'\n")
    verdict = chaos.Verdict()
    chaos.check_log(log, verdict)
    assert verdict.violations["crash"] == 1
