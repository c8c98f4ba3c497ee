"""A cold ``picscribe --help``, ``status``, ``search`` and ``export`` import no
model or UI library: each runs in a fresh process, and that process reports
which heavy modules it loaded. ``status`` and ``search`` also skip what they do
not use (SQLAlchemy, numpy and FAISS for status's counts; SQLAlchemy, Pillow
and the indexing pipeline for a search)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import Run, index_json
from support.embedder_models import cls_pooled_copy
from support.old_schema import downgrade_to_version_7

from picscribe.store import DB_NAME

pytestmark = pytest.mark.slow

HEAVY = ("torch", "transformers", "sentence_transformers", "streamlit", "watchdog")

#: Runs the CLI as `python -m picscribe` does, then writes to the file argv[1]
#: which of the modules listed in argv[2] (JSON) it imported.
_PROBE = """
import json, runpy, sys
report, heavy = sys.argv[1], set(json.loads(sys.argv[2]))
sys.argv = ["picscribe", *sys.argv[3:]]
code = 0
try:
    runpy.run_module("picscribe", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
with open(report, "w") as f:
    json.dump(sorted(heavy & set(sys.modules)), f)
sys.exit(code)
"""


def cold_run(
    tmp_path: Path, home: Path, *args: str, heavy: tuple[str, ...] = HEAVY
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """``picscribe ARGS`` in a new interpreter: its result and which of ``heavy`` it imported."""
    report = tmp_path / "loaded.json"
    report.unlink(missing_ok=True)
    env = {**os.environ, "PICSCRIBE_HOME": str(home)}
    command = [sys.executable, "-c", _PROBE, str(report), json.dumps(heavy), *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    return done, json.loads(report.read_text())


def test_help_status_search_and_export_import_no_model_or_ui_library(
    run: Run, photos: Path, home: Path, tmp_path: Path
) -> None:
    code, report = index_json(run, str(photos))
    assert code == 0 and report["captioned"] == 6

    done, loaded = cold_run(tmp_path, home, "--help")
    assert done.returncode == 0 and "search" in done.stdout
    assert loaded == []

    done, loaded = cold_run(tmp_path, home, "status", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["searchable"] == 6
    assert loaded == []

    done, loaded = cold_run(tmp_path, home, "search", "a red picture", "--json", "-k", "2")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 2
    assert loaded == []

    out = tmp_path / "rows.jsonl"
    done, loaded = cold_run(tmp_path, home, "export", "--format", "jsonl", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert len(out.read_text().splitlines()) == 6
    assert loaded == []


#: What a search needs none of: SQLAlchemy (it reads through the search view, with the stdlib
#: sqlite3), decoding and indexing photos, export and import, metadata writers.
NOT_FOR_SEARCH = (
    "sqlalchemy",
    "PIL",
    "picscribe.indexer.pipeline",
    "picscribe.indexer.decode",
    "picscribe.exchange",
    "picscribe.metadata",
)
#: What status's counts need none of: it reads SQLite with the stdlib sqlite3.
NOT_FOR_STATUS = ("numpy", "faiss", *NOT_FOR_SEARCH)


def test_status_and_search_import_only_what_they_use(run: Run, photos: Path, home: Path, tmp_path: Path) -> None:
    assert index_json(run, str(photos))[0] == 0

    done, loaded = cold_run(tmp_path, home, "status", "--json", heavy=NOT_FOR_STATUS)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["searchable"] == 6
    assert loaded == []

    # The first search after indexing also rebuilds the FAISS cache (the indexer leaves it behind SQLite).
    assert not (home / "vectors.faiss").exists()
    done, loaded = cold_run(tmp_path, home, "search", "a red picture", "--json", "-k", "2", heavy=NOT_FOR_SEARCH)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 2
    assert loaded == []
    assert (home / "vectors.faiss").is_file()

    # Every filter, --no-collapse and a query read from stdin, on the fast path too.
    filtered = ("--folder", str(photos), "--from", "1990", "--to", "2100-12", "--place", "Lisbon", "--camera", "x")
    for args in [filtered, ("--has-text", "--captioner", "fake", "--model", "fake-v1"), ("--no-collapse",)]:
        done, loaded = cold_run(tmp_path, home, "search", "a red picture", "--json", *args, heavy=NOT_FOR_SEARCH)
        assert done.returncode == 0, done.stderr
        assert isinstance(json.loads(done.stdout), list)
        assert loaded == []
    done, loaded = cold_run(tmp_path, home, "search", "--object", "dog", "red", heavy=NOT_FOR_SEARCH)
    assert done.returncode == 2 and "--object" in done.stderr  # the fake captioner detects no objects
    assert loaded == []

    # The control: `status --labels` opens the store the usual way, and the probe sees it.
    done, loaded = cold_run(tmp_path, home, "status", "--labels", heavy=NOT_FOR_STATUS)
    assert done.returncode == 0, done.stderr
    assert {"sqlalchemy", "numpy", "faiss"} <= set(loaded)

    # And for search: an index at an older schema is searched through the Store (which migrates it).
    downgrade_to_version_7(home / DB_NAME)
    done, loaded = cold_run(tmp_path, home, "search", "a red picture", "--json", "-k", "2", heavy=NOT_FOR_SEARCH)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 2
    assert loaded == ["sqlalchemy"]


def test_indexing_embeds_captions_without_torch_and_the_probe_sees_the_fallback(
    photos: Path, home: Path, tmp_path: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Captions are embedded in numpy, as queries are: an index run whose captioner
    needs no model library imports none. The control: a model only
    sentence-transformers runs (CLS pooling) loads it and torch, and the same
    probe reports them, so the empty reports in this file mean something."""
    done, loaded = cold_run(tmp_path, home, "index", str(photos), "--captioner", "fake")
    assert done.returncode == 0, done.stderr
    assert loaded == []

    monkeypatch.setenv("PICSCRIBE_EMBEDDER", str(cls_pooled_copy(model_cache, tmp_path / "cls-pooled")))
    done, loaded = cold_run(tmp_path, tmp_path / "other-home", "index", str(photos), "--captioner", "fake")
    assert done.returncode == 0, done.stderr
    assert {"torch", "sentence_transformers"} <= set(loaded)


def test_the_ui_services_answer_a_first_query_without_torch(run: Run, photos: Path, home: Path) -> None:
    """What the web UI builds at start (ui/resources.py) and its first search, in a fresh process."""
    assert index_json(run, str(photos))[0] == 0
    code = (
        "import json, sys\n"
        "from picscribe.ui.services import Services\n"
        "from picscribe.ui.settings import UiSettings\n"
        "services = Services.open(UiSettings.from_env())\n"
        "services.retriever.embedder.embed(['warm-up'])\n"
        "hits = services.retriever.search('a red picture', limit=3)\n"
        f"heavy = {list(HEAVY)!r}\n"
        "print(json.dumps([len(hits), sorted({m.split('.')[0] for m in sys.modules} & set(heavy))]))\n"
    )
    env = {**os.environ, "PICSCRIBE_HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    hits, loaded = json.loads(done.stdout)
    assert hits == 3
    assert set(loaded) <= {"streamlit"}  # the UI's own framework; no model library
