"""The hostile-file corpus (tests/hostile_files.py) through the real CLI, once:
``picscribe index CORPUS --captioner fake --json`` in a subprocess. For each
kind: a clear error naming the file, or a correct index row; for the run: the
batch goes on (every control photo is indexed), no traceback, no hang, and no
raw terminal control character in what it prints for humans."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.hostile_files import CONTROLS, HOSTILE, Hostile, make_corpus

pytestmark = pytest.mark.slow

#: No file may make the run hang: it must finish well inside this.
TIMEOUT_S = 240


@dataclass
class CorpusRun:
    corpus: Path
    returncode: int
    report: dict
    stderr: str
    #: basename -> (content_hash, status, error) for every row
    rows: dict[str, tuple[str | None, str, str | None]]
    #: basename -> current caption text
    captions: dict[str, str]
    #: basename -> messages the report gives for it (failures, skipped, ...)
    reported: dict[str, list[str]]


def _reported(report: dict) -> dict[str, list[str]]:
    """Every per-file entry of the report, whatever list it sits in (failures, skipped, still_failing)."""
    out: dict[str, list[str]] = {}
    for value in report.values():
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and "path" in item:
                    message = str(item.get("error") or item.get("reason") or item.get("message") or "")
                    out.setdefault(os.path.basename(item["path"]), []).append(message)
    return out


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> CorpusRun:
    base = tmp_path_factory.mktemp("hostile")
    corpus = base / "corpus"
    corpus.mkdir()
    make_corpus(corpus)
    home = base / "home"
    env = {
        **os.environ,
        "PICSCRIBE_HOME": str(home),
        "PICSCRIBE_CACHE": str(model_cache),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    for var in ("PICSCRIBE_CAPTIONER", "PICSCRIBE_VLM", "PICSCRIBE_EMBEDDER"):
        env.pop(var, None)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "picscribe", "index", str(corpus), "--captioner", "fake", "--json"],
            capture_output=True,
            timeout=TIMEOUT_S,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"index hung on the hostile corpus (> {TIMEOUT_S}s); stderr: {exc.stderr!r}")
    stderr = result.stderr.decode("utf-8", "backslashreplace")
    try:
        report = json.loads(result.stdout)
    except ValueError:
        pytest.fail(f"--json printed no JSON (rc {result.returncode}): {result.stdout[-2000:]!r} {stderr[-3000:]}")
    rows: dict[str, tuple[str | None, str, str | None]] = {}
    captions: dict[str, str] = {}
    with sqlite3.connect(home / "index.sqlite") as db:
        for path, h, status, error in db.execute("SELECT path, content_hash, status, error FROM images"):
            rows[os.path.basename(path)] = (h, status, error)
        for path, text in db.execute(
            "SELECT i.path, c.text FROM images AS i JOIN current_captions AS cc ON cc.content_hash = i.content_hash"
            " JOIN captions AS c ON c.id = cc.caption_id"
        ):
            captions[os.path.basename(path)] = text
    return CorpusRun(corpus, result.returncode, report, stderr, rows, captions, _reported(report))


def _one(entries: dict, token: str) -> list:
    return [v for name, v in entries.items() if token in name]


def _path_of(run: CorpusRun, h: Hostile) -> Path:
    if h.kind == "inside-dir-named-jpg":
        return run.corpus / HOSTILE[[x.kind for x in HOSTILE].index("dir-named-jpg")].name() / h.name()
    return run.corpus / h.name()


def _caption_of_kind(run: CorpusRun, kind: str) -> str:
    if kind in CONTROLS:
        return run.captions[CONTROLS[kind][0]]
    (twin,) = [h for h in HOSTILE if h.kind == kind]
    (caption,) = _one(run.captions, twin.token())
    return caption


def test_the_corpus_has_forty_kinds_or_more() -> None:
    assert len(HOSTILE) >= 40
    assert len({h.kind for h in HOSTILE}) == len(HOSTILE)


def test_the_run_ends_with_a_summary_not_a_traceback(corpus_run: CorpusRun) -> None:
    # 1: some files failed, as they must here; never 2+ or a signal.
    assert corpus_run.returncode == 1, corpus_run.stderr[-3000:]
    assert "Traceback" not in corpus_run.stderr, corpus_run.stderr[-3000:]
    assert "indexed:" in corpus_run.stderr


def test_the_batch_goes_on_past_every_hostile_file(corpus_run: CorpusRun) -> None:
    for name, _ in CONTROLS.values():
        assert corpus_run.rows.get(name, (None, "missing", None))[1] == "ok", (name, corpus_run.rows.get(name))
        assert name in corpus_run.captions


def test_no_raw_terminal_control_characters_reach_the_terminal(corpus_run: CorpusRun) -> None:
    """File names with ESC[2J or ESC]0;...BEL must not clear the screen or retitle it (--json stays exact)."""
    assert "\x1b" not in corpus_run.stderr and "\x07" not in corpus_run.stderr, [
        line for line in corpus_run.stderr.splitlines() if "\x1b" in line or "\x07" in line
    ][:3]


def test_no_pillow_warning_leaks_to_stderr(corpus_run: CorpusRun) -> None:
    assert "Corrupt EXIF" not in corpus_run.stderr
    # As Python prints them: "UserWarning: ...", "DecompressionBombWarning: ...".
    assert "Warning:" not in corpus_run.stderr, corpus_run.stderr[-2000:]


@pytest.mark.parametrize("hostile", HOSTILE, ids=[h.kind for h in HOSTILE])
def test_each_hostile_file_gets_a_clear_error_or_a_correct_row(corpus_run: CorpusRun, hostile: Hostile) -> None:
    token = hostile.token()
    rows = _one(corpus_run.rows, token)
    reports = [m for msgs in _one(corpus_run.reported, token) for m in msgs]
    indexed_ok = len(rows) == 1 and rows[0][1] == "ok"
    reported_clearly = bool(reports) and all(m.strip() and "Traceback" not in m for m in reports)
    not_indexed = not any(r[1] == "ok" for r in rows)

    if hostile.expect == "ok" or (hostile.expect == "either" and indexed_ok):
        assert indexed_ok, f"not indexed: rows {rows}, reported {reports}"
        content_hash = rows[0][0]
        assert content_hash == hashlib.sha256(_path_of(corpus_run, hostile).read_bytes()).hexdigest()
        (caption,) = _one(corpus_run.captions, token)
        if hostile.caption_has:
            assert hostile.caption_has in caption, caption
        if hostile.same_caption_as:
            assert caption == _caption_of_kind(corpus_run, hostile.same_caption_as)
    elif hostile.expect in ("error", "either"):
        assert not_indexed, f"indexed as an image: {rows}"
        assert reported_clearly, f"no clear report naming it; rows {rows}, report {corpus_run.report}"
    elif hostile.expect == "not-ok":
        assert not_indexed, f"indexed as an image: {rows}"
        assert all(m.strip() for m in reports)
    else:
        assert hostile.expect == "ignored"
        assert not rows and not reports, (rows, reports)


# -- the same corpus arriving in a watched folder -----------------------------


def test_the_watcher_survives_the_whole_corpus(tmp_path: Path, home: Path, model_cache: Path) -> None:
    """The corpus appears in a watched folder: every good photo is indexed, no
    hostile one is taken for an image, and the watcher stays responsive (a
    photo written afterwards is indexed) and stops on SIGTERM."""
    library = tmp_path / "library"
    library.mkdir()
    log = tmp_path / "watch.log"
    env = {**os.environ, "PICSCRIBE_HOME": str(home), "PICSCRIBE_CACHE": str(model_cache)}
    cmd = [
        sys.executable,
        "-m",
        "picscribe",
        "watch",
        str(library),
        "--captioner",
        "fake",
        "--debounce",
        "0.2",
        "--json",
    ]
    with log.open("wb") as out:
        watcher = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
    try:
        _until(lambda: b"watching " in log.read_bytes(), "the watcher started", watcher, log)
        # Straight into the root: the corpus's "outside" folder goes beside its folder, outside the library.
        corpus = library
        make_corpus(corpus)
        controls = [corpus / name for name, _ in CONTROLS.values()]
        _until(lambda: all(_status(home, p) == "ok" for p in controls), "every control photo indexed", watcher, log)
        after = library / "after-the-corpus.png"
        after.write_bytes(CONTROLS["control-png"][1]())
        _until(lambda: _status(home, after) == "ok", "a photo written afterwards indexed", watcher, log)
        watcher.send_signal(signal.SIGTERM)
        assert watcher.wait(timeout=60) == 0, log.read_bytes()[-3000:]
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()

    text = log.read_bytes().decode("utf-8", "backslashreplace")
    assert "Traceback" not in text, text[-3000:]
    # One bad name must not sink the batch of events it arrived with.
    assert "watcher step failed" not in text, text[-3000:]
    human = "\n".join(line for line in text.splitlines() if not line.startswith("{"))  # --json lines stay exact
    assert "\x1b" not in human and "\x07" not in human
    with sqlite3.connect(home / "index.sqlite") as db:
        rows = {os.path.basename(p): s for p, s in db.execute("SELECT path, status FROM images")}
    for h in HOSTILE:
        statuses = _one(rows, h.token())
        if h.expect == "ok":
            assert statuses == ["ok"], (h.kind, statuses)
        elif h.expect != "either":
            assert "ok" not in statuses, (h.kind, statuses)


def _status(home: Path, path: Path) -> str | None:
    try:
        with sqlite3.connect(home / "index.sqlite") as db:
            row = db.execute("SELECT status FROM images WHERE path = ?", (str(path),)).fetchone()
    except sqlite3.OperationalError:
        return None  # no schema yet
    return row[0] if row else None


def _until(check: Callable[[], bool], what: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert proc.poll() is None, f"watcher exited {proc.returncode} before {what}: {log.read_bytes()[-3000:]!r}"
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s: {log.read_bytes()[-3000:]!r}"
        time.sleep(0.1)
