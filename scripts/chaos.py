#!/usr/bin/env python
"""Chaos runner: kill -9 ``picscribe index``, ``reindex`` and ``watch`` at random
moments and check, after every kill, that the index kept its promises.

    .venv/bin/python scripts/chaos.py --kills 50 --seed 1

It generates a library of small, distinct photos, then runs the real CLI
(``--captioner fake``, a private ``PICSCRIBE_HOME``) N times, each run killed
with SIGKILL: mid-write, or at any moment. Between runs (and during ``watch``
runs) a mutator adds, renames, deletes and edits photos and moves folders.
After each kill it reads the SQLite file directly, read-only, and checks:

- ``PRAGMA integrity_check`` and ``foreign_key_check``;
- lost: every photo that was indexed ok before the run and is still on disk,
  unchanged, at the same path, is still there, ok, with the same content hash;
- duplicated: no content has two rows (every generated photo is unique);
- one current caption per indexed content, of that content, in the keyword
  index, and none for content no file has;
- after a reopen through ``store.Store``, the FAISS ids equal the searchable
  caption ids (current captions with a vector from the bound embedder, whose
  content has an ok row);
- a killed ``reindex`` never switched search to a captioner that had not
  captioned everything yet; no run printed a Python traceback.

At the end a ``picscribe index`` that is not killed must make the index match
the disk exactly: 0 lost, 0 duplicated, 0 stuck (a failed row for a good photo
on disk), 0 stale (a row for a file that is gone). It prints a summary table
(or JSON with ``--json``) and exits 1 on any violation.

``--spawn fork`` (the default) forks each run from this process after it has
imported picscribe and sentence-transformers once: ``python -m picscribe``
spends ~10 s of CPU importing them, so with ``exec`` most random kills would
land in imports, and 50 runs would cost minutes before any work. The forked
child runs the same CLI entry point (``picscribe.cli.main``) in its own process
and is killed the same way. ``--spawn exec`` starts ``python -m picscribe``
each time, exactly as a user does.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import numpy as np
from PIL import Image

COMMANDS = ("index", "reindex", "watch")
VIOLATION_KINDS = ("lost", "duplicated", "stuck", "stale", "integrity", "caption", "faiss", "switch", "crash")
DB_NAME = "index.sqlite"
SEARCH_TASK = "caption"
TRACEBACK = "Traceback (most recent call last)"


# -- the photo library and its mutator ---------------------------------------


def photo_bytes(number: int, version: int, fmt: str) -> bytes:
    """A tiny photo unique to (number, version): random pixels, and the pair
    written into its metadata so that even equal pixels give distinct files."""
    rng = np.random.default_rng(number * 7919 + version)
    pixels = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    img = Image.fromarray(pixels, "RGB")
    buf = io.BytesIO()
    tag = f"picscribe chaos photo {number} v{version}"
    if fmt == "png":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Comment", tag)
        img.save(buf, "PNG", pnginfo=info)
    else:
        img.save(buf, "JPEG", quality=90, comment=tag.encode())
    return buf.getvalue()


class Library:
    """The photo folders, and what each file on disk holds (``truth``: path -> sha256).

    Names are never reused: a renamed or deleted path does not come back, so
    "unchanged at the same path" is a sound test for "untouched".
    """

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.truth: dict[str, str] = {}
        self.ops: Counter[str] = Counter()
        self._next = 0

    def _fresh(self) -> int:
        self._next += 1
        return self._next

    def _write(self, path: Path, number: int, version: int) -> None:
        data = photo_bytes(number, version, "png" if path.suffix == ".png" else "jpg")
        path.write_bytes(data)
        self.truth[str(path)] = hashlib.sha256(data).hexdigest()

    def folders(self) -> list[Path]:
        return sorted(Path(d) for d, _, _ in os.walk(self.root) if Path(d) != self.root)

    def populate(self, photos: int, folders: int) -> None:
        for f in range(folders):
            (self.root / f"album-{f:03d}").mkdir(parents=True)
        for _ in range(photos):
            self.add()
        self.ops.clear()

    def add(self) -> None:
        folder = self.rng.choice(self.folders() or [self.root])
        n = self._fresh()
        self._write(folder / f"p{n:06d}.{self.rng.choice(['jpg', 'png'])}", n, 0)
        self.ops["adds"] += 1

    def rename(self) -> None:
        if not self.truth:
            return
        old = Path(self.rng.choice(sorted(self.truth)))
        folder = self.rng.choice([old.parent, *self.folders()[:3]])
        new = folder / f"r{self._fresh():06d}{old.suffix}"
        os.rename(old, new)
        self.truth[str(new)] = self.truth.pop(str(old))
        self.ops["renames"] += 1

    def delete(self) -> None:
        if not self.truth:
            return
        path = self.rng.choice(sorted(self.truth))
        os.unlink(path)
        del self.truth[path]
        self.ops["deletes"] += 1

    def edit(self) -> None:
        if not self.truth:
            return
        path = Path(self.rng.choice(sorted(self.truth)))
        self._write(path, self._fresh(), 1)
        self.ops["edits"] += 1

    def move_folder(self) -> None:
        folders = self.folders()
        if not folders:
            return
        old = self.rng.choice(folders)
        # Sometimes into another folder, mostly beside it; always a new name.
        parents = [self.root] * 3 + [f for f in folders if f != old and old not in f.parents]
        new = self.rng.choice(parents) / f"album-m{self._fresh():05d}"
        os.rename(old, new)
        prefix = str(old) + os.sep
        for path in [p for p in self.truth if p.startswith(prefix)]:
            self.truth[str(new) + os.sep + path[len(prefix) :]] = self.truth.pop(path)
        self.ops["folder moves"] += 1

    def mutate(self, count: int, target_size: int) -> None:
        for _ in range(count):
            # Keep the library near its target size so runs stay comparable.
            grow = len(self.truth) < target_size
            weights = {
                self.add: 4 if grow else 2,
                self.rename: 3,
                self.delete: 1 if grow else 3,
                self.edit: 2,
                self.move_folder: 0.4,
            }
            self.rng.choices(list(weights), list(weights.values()))[0]()

    def check_disk(self) -> None:
        """The runner's own bookkeeping must match the disk, or its verdicts mean nothing."""
        on_disk = {str(p) for p in self.root.rglob("*") if p.is_file()}
        if on_disk != set(self.truth):
            raise RuntimeError(f"chaos runner bug: truth differs from disk: {sorted(on_disk ^ set(self.truth))[:5]}")


# -- starting and killing the CLI --------------------------------------------


class Running(Protocol):
    pid: int

    def poll(self) -> int | None: ...

    def kill(self) -> None: ...

    def wait(self, timeout: float) -> int: ...


class ExecLauncher:
    """``python -m picscribe ARGS``: the CLI exactly as a user starts it."""

    def start(self, args: list[str], log: Path) -> Running:
        with log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "picscribe", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )


class _Forked:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"pid {self.pid} still running after {timeout}s")
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode


class ForkLauncher:
    """The CLI entry point in a child forked from this warmed-up process.

    The parent imports but never runs a model or a FAISS operation, so no
    thread pool exists yet that the child could inherit half-initialised.
    """

    def __init__(self) -> None:
        import sentence_transformers  # noqa: F401  (the ~10 s import every child would repeat)

        from picscribe.cli import main

        self._main = main

    def start(self, args: list[str], log: Path) -> Running:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return _Forked(pid)
        code = 70
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            try:
                self._main.main(args=args, prog_name="picscribe", standalone_mode=True)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)


def in_child(fn: Callable[..., dict], *args: object) -> dict:
    """``fn(*args)`` in a forked child, its JSON result passed back through a
    pipe: FAISS (OpenMP) must never run in the process that forks the CLI."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            payload = json.dumps(fn(*args)).encode()
        except BaseException:
            payload = json.dumps({"error": traceback.format_exc()}).encode()
        with os.fdopen(write_fd, "wb") as w:
            w.write(payload)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as r:
        data = r.read()
    os.waitpid(pid, 0)
    return json.loads(data) if data else {"error": "check process died"}


# -- reading the index -------------------------------------------------------


@dataclass
class DbState:
    exists: bool = False
    integrity: list[str] = field(default_factory=lambda: ["ok"])
    foreign_keys: list[tuple] = field(default_factory=list)
    #: path -> (content_hash, status, error)
    rows: dict[str, tuple[str | None, str, str | None]] = field(default_factory=dict)
    duplicate_paths: list[str] = field(default_factory=list)
    #: content_hash -> (caption_id, the caption's content_hash, its task)
    current: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    fts_ids: set[int] = field(default_factory=set)
    searchable_ids: set[int] = field(default_factory=set)
    meta: dict[str, str] = field(default_factory=dict)
    #: (captioner, model_id) -> content hashes with a search caption by it
    captioned_by: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    @property
    def generation(self) -> int:
        return int(self.meta.get("generation", 0))

    def ok_rows(self) -> dict[str, str]:
        return {p: h for p, (h, s, _) in self.rows.items() if s == "ok" and h}


def read_db(home: Path) -> DbState:
    """The index as SQLite has it, read through a read-only connection."""
    db = home / DB_NAME
    if not db.exists():
        return DbState()
    conn = sqlite3.connect(f"file:{quote(str(db))}?mode=ro", uri=True, timeout=30)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "images" not in tables:
            return DbState()  # killed before the first migration committed
        st = DbState(exists=True)
        st.meta = dict(conn.execute("SELECT key, value FROM meta"))
        try:
            st.integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            _read_rows(conn, st)
        except sqlite3.DatabaseError as exc:
            # A damaged file can fail the check itself: that is its verdict.
            st.integrity.append(f"reading the index failed: {exc}")
        return st
    finally:
        conn.close()


def _read_rows(conn: sqlite3.Connection, st: DbState) -> None:
    st.foreign_keys = conn.execute("PRAGMA foreign_key_check").fetchall()
    for path, h, status, error in conn.execute("SELECT path, content_hash, status, error FROM images"):
        if path in st.rows:
            st.duplicate_paths.append(path)
        st.rows[path] = (h, status, error)
    st.current = {
        h: (cid, ch, task)
        for h, cid, ch, task in conn.execute(
            "SELECT cc.content_hash, cc.caption_id, c.content_hash, c.task"
            " FROM current_captions AS cc LEFT JOIN captions AS c ON c.id = cc.caption_id"
        )
    }
    st.fts_ids = {r[0] for r in conn.execute("SELECT rowid FROM search_text")}
    st.searchable_ids = {
        r[0]
        for r in conn.execute(
            "SELECT cc.caption_id FROM current_captions AS cc"
            " JOIN embeddings AS e ON e.caption_id = cc.caption_id AND e.embedder = ?"
            " WHERE EXISTS (SELECT 1 FROM images AS i WHERE i.content_hash = cc.content_hash AND i.status = 'ok')",
            (st.meta.get("embedder", ""),),
        )
    }
    for name, model, h in conn.execute(
        "SELECT captioner, model_id, content_hash FROM captions WHERE task = ?", (SEARCH_TASK,)
    ):
        st.captioned_by.setdefault((name, model), set()).add(h)


def progress_mark(home: Path) -> tuple[int, int, int]:
    """Changes with every committed write: the generation moves with search-visible
    changes, the newest caption id with a re-index's captions, the row count with failures."""
    nothing = (0, 0, 0)  # a new, empty index: creating it is not yet a write of data
    db = home / DB_NAME
    if not db.exists():
        return nothing
    try:
        conn = sqlite3.connect(f"file:{quote(str(db))}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(
                "SELECT (SELECT coalesce(max(CAST(value AS INTEGER)), 0) FROM meta WHERE key = 'generation'),"
                " (SELECT coalesce(max(id), 0) FROM captions), (SELECT count(*) FROM images)"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return nothing  # no schema yet


def faiss_after_reopen(home: str) -> dict:
    """Reopen the index as any command does and report the FAISS ids (run in a child)."""
    from picscribe.store import VECTORS_NAME, CorruptIndexFile, Store, VectorIndex

    cache: dict[str, int | bool | str]
    try:
        _, header = VectorIndex.load(Path(home) / VECTORS_NAME)
        cache = {"generation": header.generation, "count": header.count}
    except FileNotFoundError:
        cache = {"missing": True}
    except (CorruptIndexFile, OSError) as exc:
        cache = {"unreadable": str(exc)}
    with Store.open(home, create=False) as store:
        index = store.vector_index()
        ids = sorted(int(i) for i in index.ids())
        return {"ids": ids, "count": len(index), "searchable": store.status().searchable, "cache": cache}


# -- the invariants ----------------------------------------------------------


@dataclass
class Verdict:
    violations: Counter[str] = field(default_factory=Counter)
    details: list[str] = field(default_factory=list)
    cache_rebuilt: bool = False

    def flag(self, kind: str, count: int, detail: str) -> None:
        if count:
            self.violations[kind] += count
            self.details.append(f"{kind}: {detail}")


def check_store(home: Path, st: DbState, verdict: Verdict) -> None:
    """Invariants that hold after any kill, whatever the run was doing."""
    if not st.exists:
        return
    bad = [] if st.integrity == ["ok"] else st.integrity
    verdict.flag("integrity", len(bad) + len(st.foreign_keys), f"integrity_check {bad[:3]}, fk {st.foreign_keys[:3]}")
    by_hash: Counter[str] = Counter(h for h, _, _ in st.rows.values() if h)
    twice = [h for h, n in by_hash.items() if n > 1]
    verdict.flag("duplicated", len(st.duplicate_paths), f"paths twice {st.duplicate_paths[:3]}")
    verdict.flag(
        "duplicated",
        len(twice),
        f"content with more than one row {[p for p, r in st.rows.items() if r[0] in twice][:4]}",
    )

    ok_hashes = set(st.ok_rows().values())
    no_current = sorted(ok_hashes - set(st.current))
    wrong = [h for h, (_, ch, task) in st.current.items() if ch != h or task != SEARCH_TASK]
    orphan = [h for h in st.current if h not in ok_hashes]
    verdict.flag("caption", len(no_current), f"indexed content with no current caption {no_current[:3]}")
    verdict.flag("caption", len(wrong), f"current caption of other content or task {wrong[:3]}")
    verdict.flag("caption", len(orphan), f"current caption for content no ok row has {orphan[:3]}")
    current_ids = {cid for cid, _, _ in st.current.values()}
    fts_off = current_ids ^ st.fts_ids
    verdict.flag("caption", len(fts_off), f"keyword index differs from current captions by ids {sorted(fts_off)[:5]}")

    faiss = in_child(faiss_after_reopen, str(home))
    if "error" in faiss:
        verdict.flag("faiss", 1, f"reopening the store failed: {faiss['error'].strip().splitlines()[-1]}")
        return
    ids = set(faiss["ids"])
    off = ids ^ st.searchable_ids
    verdict.flag(
        "faiss",
        int(bool(off)) + int(faiss["count"] != len(st.searchable_ids)),
        f"FAISS holds {faiss['count']} ids, {len(st.searchable_ids)} captions searchable; "
        f"differing ids {sorted(off)[:5]}",
    )
    cache = faiss["cache"]
    verdict.cache_rebuilt = cache.get("generation") != st.generation or cache.get("count") != len(st.searchable_ids)


def check_kept(before: dict[str, str], truth: dict[str, str], st: DbState, verdict: Verdict) -> None:
    """Lost: a photo indexed ok before the run, untouched on disk since, is no longer indexed ok."""
    lost = [
        p for p, h in before.items() if truth.get(p) == h and (st.rows.get(p, (None, "missing", None))[:2] != (h, "ok"))
    ]
    verdict.flag("lost", len(lost), f"{[(p, st.rows.get(p)) for p in lost[:3]]}")


def check_switch(model: str, st: DbState, verdict: Verdict) -> None:
    """Search switches to a re-index's captions only once every image has one."""
    if st.meta.get("active_captioner") == "fake" and st.meta.get("active_model") == f"fake-{model}":
        missing = set(st.ok_rows().values()) - st.captioned_by.get(("fake", f"fake-{model}"), set())
        verdict.flag("switch", len(missing), f"search switched to fake-{model} with {len(missing)} photos uncaptioned")


def check_log(log: Path, verdict: Verdict) -> None:
    text = log.read_text(errors="replace") if log.exists() else ""
    verdict.flag("crash", text.count(TRACEBACK), f"traceback in {log}: ...{text[text.find(TRACEBACK) :][:300]!r}")


def is_good_image(path: str) -> bool:
    try:
        with Image.open(path) as img:
            img.load()
        return True
    except Exception:
        return False


def check_converged(lib: Library, st: DbState, verdict: Verdict) -> None:
    """After a run that was not killed, the index is the disk: nothing lost, stuck, stale or twice."""
    rows = st.rows
    stuck = [p for p in lib.truth if p in rows and rows[p][1] == "failed" and is_good_image(p)]
    lost = [p for p, h in lib.truth.items() if p not in stuck and rows.get(p, (None, "missing"))[:2] != (h, "ok")]
    stale = [p for p in rows if p not in lib.truth]
    verdict.flag("stuck", len(stuck), f"failed rows for good photos {[(p, rows[p][2]) for p in stuck[:3]]}")
    verdict.flag("lost", len(lost), f"photos on disk not indexed ok {[(p, rows.get(p)) for p in lost[:3]]}")
    verdict.flag("stale", len(stale), f"rows for files not on disk {stale[:3]}")
    distinct = len(set(lib.truth.values()))
    verdict.flag(
        "faiss",
        int(len(st.searchable_ids) != distinct),
        f"{len(st.searchable_ids)} searchable captions for {distinct} photos",
    )


# -- one killed run ----------------------------------------------------------


@dataclass
class Tally:
    kills: int = 0
    #: kills that landed after the run had committed something
    mid_write: int = 0
    completed: int = 0
    seconds: float = 0.0
    violations: Counter[str] = field(default_factory=Counter)
    cache_rebuilds: int = 0


class Chaos:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.home = workdir / "home"
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.lib = Library(workdir / "library", self.rng)
        self.launcher: ExecLauncher | ForkLauncher = ForkLauncher() if args.spawn == "fork" else ExecLauncher()
        self.tally = {cmd: Tally() for cmd in COMMANDS}
        self.details: list[str] = []
        self.runs = 0

    def say(self, msg: str) -> None:
        if not self.args.quiet:
            print(msg, file=sys.stderr, flush=True)

    def _args_for(self, cmd: str) -> tuple[list[str], str | None]:
        batch = str(self.rng.choice([2, 4, 8, 16]))
        if cmd == "index":
            return ["index", str(self.lib.root), "--captioner", "fake", "--batch-size", batch, "--json"], None
        if cmd == "reindex":
            model = f"r{self.runs}"
            return ["reindex", "--captioner", f"fake:{model}", "--batch-size", batch, "--json"], model
        reconcile = self.rng.choice(["0", "1.5"])
        return [
            "watch",
            str(self.lib.root),
            "--captioner",
            "fake",
            "--batch-size",
            batch,
            "--debounce",
            "0.2",
            "--reconcile-every",
            reconcile,
            "--json",
        ], None

    def _wait_for_commit(self, proc: Running, timeout: float) -> None:
        """Until the run has committed something (its kill then lands among writes)."""
        start = progress_mark(self.home)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if progress_mark(self.home) != start:
                return
            time.sleep(0.02)

    def run_once(self, cmd: str) -> bool:
        """Start ``cmd``, kill it at a random moment, check. Returns whether the kill landed."""
        self.runs += 1
        tally = self.tally[cmd]
        if cmd == "index":
            self.lib.mutate(self.rng.randint(5, max(10, self.args.photos // 4)), self.args.photos)
        before = read_db(self.home)
        mark = progress_mark(self.home)
        args, model = self._args_for(cmd)
        log = self.logs / f"{self.runs:03d}-{cmd}.log"
        started = time.monotonic()
        proc = self.launcher.start(args, log)
        mid_write = self.rng.random() < 0.7
        if cmd == "watch":
            self.lib.mutate(self.rng.randint(5, 30), self.args.photos)
            if mid_write:
                self._wait_for_commit(proc, timeout=60)
            until = time.monotonic() + self.rng.uniform(0.2, 3.0)
            while time.monotonic() < until and proc.poll() is None:
                self.lib.mutate(1, self.args.photos)
                time.sleep(self.rng.uniform(0, 0.06))
        elif mid_write:
            self._wait_for_commit(proc, timeout=120)
            time.sleep(self.rng.uniform(0, 0.4))
        else:
            deadline = time.monotonic() + self.rng.uniform(0.05, 3.0)
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.01)
        killed = proc.poll() is None
        proc.kill()
        rc = proc.wait(timeout=60)
        tally.seconds += time.monotonic() - started
        if killed:
            tally.kills += 1
            tally.mid_write += int(progress_mark(self.home) != mark)
        else:
            tally.completed += 1

        verdict = Verdict()
        after = read_db(self.home)
        check_store(self.home, after, verdict)
        check_kept(before.ok_rows(), self.lib.truth, after, verdict)
        if model is not None:
            check_switch(model, after, verdict)
        check_log(log, verdict)
        if cmd == "watch" and not killed:
            verdict.flag("crash", 1, f"watch exited {rc} by itself; see {log}")
        tally.violations.update(verdict.violations)
        tally.cache_rebuilds += int(verdict.cache_rebuilt)
        self.details += [f"run {self.runs} ({cmd}): {d}" for d in verdict.details]
        how = "killed" if killed else f"exited {rc} before the kill"
        state = f"{len(after.rows)} rows, generation {after.generation}"
        problems = f"; VIOLATIONS {dict(verdict.violations)}" if verdict.violations else ""
        self.say(f"run {self.runs:3d} {cmd:8s} {how} after {time.monotonic() - started:5.1f}s: {state}{problems}")
        return killed

    def plan(self) -> list[str]:
        """N kills, spread over the commands; index first (reindex needs an index)."""
        n = self.args.kills
        order = [COMMANDS[i % len(COMMANDS)] for i in range(n)]
        rest = order[1:]
        self.rng.shuffle(rest)
        return order[:1] + rest

    def run(self) -> dict:
        started = time.monotonic()
        self.lib.populate(self.args.photos, self.args.folders)
        self.say(f"{self.args.photos} photos in {self.lib.root}; index at {self.home}")
        for cmd in self.plan():
            if cmd == "reindex" and len(read_db(self.home).ok_rows()) < len(self.lib.truth) // 4:
                self.complete_index("setup-index")  # a re-index of an empty index has nothing to kill
            for _attempt in range(8):
                if self.run_once(cmd):
                    break
                # It finished before the kill: give it more to do, and try again. A
                # re-index works from what the index holds, so bring that up to date first.
                self.lib.mutate(self.rng.randint(10, 40), self.args.photos)
                if cmd == "reindex":
                    self.complete_index("sync-index")
            else:
                raise RuntimeError(f"{cmd} kept finishing before it could be killed; use more --photos")
        final = self.final_index()
        return {
            "seconds": round(time.monotonic() - started, 1),
            "photos": len(self.lib.truth),
            "mutations": dict(self.lib.ops),
            "commands": {
                cmd: {
                    "kills": t.kills,
                    "mid_write": t.mid_write,
                    "completed": t.completed,
                    "seconds": round(t.seconds, 1),
                    "cache_rebuilds": t.cache_rebuilds,
                    **{k: t.violations.get(k, 0) for k in VIOLATION_KINDS},
                }
                for cmd, t in self.tally.items()
            },
            "final": final,
            "details": self.details[:50],
        }

    def complete_index(self, name: str) -> tuple[int, float, Path]:
        """A ``picscribe index`` left to finish: (exit status, seconds, log)."""
        self.runs += 1
        log = self.logs / f"{self.runs:03d}-{name}.log"
        started = time.monotonic()
        proc = self.launcher.start(["index", str(self.lib.root), "--captioner", "fake", "--json"], log)
        try:
            rc = proc.wait(timeout=600)
        except TimeoutError:
            proc.kill()
            rc = -9
        seconds = time.monotonic() - started
        self.say(f"run {self.runs:3d} {name} exited {rc} after {seconds:.1f}s")
        return rc, seconds, log

    def final_index(self) -> dict:
        """One ``picscribe index`` left to finish; the index must then be the disk."""
        self.lib.check_disk()
        rc, seconds, log = self.complete_index("final-index")
        verdict = Verdict()
        st = read_db(self.home)
        check_store(self.home, st, verdict)
        check_converged(self.lib, st, verdict)
        check_log(log, verdict)
        verdict.flag("crash", int(rc != 0), f"final index exited {rc} (see {log})")
        self.details += [f"final index: {d}" for d in verdict.details]
        self.say(f"final index exited {rc} after {seconds:.1f}s: {len(st.rows)} rows for {len(self.lib.truth)} photos")
        return {
            "rc": rc,
            "seconds": round(seconds, 1),
            "rows": len(st.rows),
            **{k: verdict.violations.get(k, 0) for k in VIOLATION_KINDS},
        }


# -- report ------------------------------------------------------------------


def total_violations(summary: dict) -> Counter[str]:
    total: Counter[str] = Counter()
    for row in [*summary["commands"].values(), summary["final"]]:
        total.update({k: row[k] for k in VIOLATION_KINDS})
    return total


def print_table(summary: dict) -> None:
    cols = ("kills", "mid-write", "done", *VIOLATION_KINDS, "seconds")
    print(f"{'command':<9}" + "".join(f"{c:>11}" for c in cols))
    for cmd, row in summary["commands"].items():
        values = [row["kills"], row["mid_write"], row["completed"], *(row[k] for k in VIOLATION_KINDS), row["seconds"]]
        print(f"{cmd:<9}" + "".join(f"{v:>11}" for v in values))
    f = summary["final"]
    values = ["-", "-", f"rc {f['rc']}", *(f[k] for k in VIOLATION_KINDS), f["seconds"]]
    print(f"{'final':<9}" + "".join(f"{v:>11}" for v in values))
    total = total_violations(summary)
    kills = sum(r["kills"] for r in summary["commands"].values())
    rebuilt = sum(r["cache_rebuilds"] for r in summary["commands"].values())
    print(
        f"{kills} kills, {summary['photos']} photos at the end, mutations {summary['mutations']}, "
        f"FAISS cache stale after {rebuilt} kills (rebuilt on reopen), {summary['seconds']}s in all"
    )
    print(
        f"lost {total['lost']}, duplicated {total['duplicated']}, stuck {total['stuck']}, "
        f"integrity failures {total['integrity']}, other violations "
        f"{sum(total.values()) - total['lost'] - total['duplicated'] - total['stuck'] - total['integrity']}"
    )
    for line in summary["details"]:
        print(f"  {line}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--kills", type=int, required=True, help="SIGKILLs in all, spread over index, reindex and watch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--photos", type=int, default=600, help="library size the mutator keeps near [default: 600]")
    p.add_argument("--folders", type=int, default=8)
    p.add_argument(
        "--workdir", type=Path, default=None, help="kept afterwards [default: a temp dir, removed if all is well]"
    )
    p.add_argument("--spawn", choices=["fork", "exec"], default="fork", help="how each run starts (see above)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    p.add_argument("--quiet", action="store_true", help="no per-run lines on stderr")
    args = p.parse_args(argv)
    if args.kills < 1 or args.photos < 10:
        p.error("--kills must be at least 1 and --photos at least 10")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keep = args.workdir is not None
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="picscribe-chaos-"))).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    if (workdir / "library").exists() or (workdir / "home").exists():
        print(f"{workdir} already holds a chaos run; give an empty --workdir", file=sys.stderr)
        return 2
    # Every run, forked or exec'd, sees this home and cache, and no model hub.
    os.environ["PICSCRIBE_HOME"] = str(workdir / "home")
    os.environ.setdefault("PICSCRIBE_CACHE", str(workdir / "cache"))
    os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"
    for var in ("PICSCRIBE_CAPTIONER", "PICSCRIBE_VLM", "PICSCRIBE_EMBEDDER"):
        os.environ.pop(var, None)
    summary = Chaos(args, workdir).run()
    failed = sum(total_violations(summary).values()) > 0
    summary["workdir"] = str(workdir)
    summary["ok"] = not failed
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_table(summary)
    if not failed and not keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    elif failed:
        print(f"logs and index kept in {workdir}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
