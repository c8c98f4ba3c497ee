"""Who is watching an index, and how it is going: a lock file and a state file
in the index home.

The lock is an ``flock`` on ``watch.lock``: the kernel drops it when the
process ends, however it ends, so a crashed watcher never leaves a stale
lock behind and the next one starts without a manual clean-up. The state is
a small JSON file, replaced atomically (temp file + ``os.replace``), that
``picscribe status`` and the web UI read without disturbing the watcher.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOCK_NAME = "watch.lock"
STATE_NAME = "watch.json"


class WatcherBusy(RuntimeError):
    """Another watcher holds this index."""


@dataclass(frozen=True)
class WatcherState:
    running: bool
    pid: int | None = None
    roots: tuple[str, ...] = ()
    #: Changes waiting to be indexed (0 when no watcher is running).
    queue_length: int = 0
    last_error: str | None = None
    last_error_at: str | None = None
    started_at: str | None = None
    stopped_at: str | None = None
    last_event_at: str | None = None
    last_batch_at: str | None = None
    last_reconcile_at: str | None = None
    batches: int = 0
    #: Files captioned, reused, removed and moved since the watcher started.
    totals: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["roots"] = list(self.roots)
        return d


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def watcher_state(home: Path | str) -> WatcherState | None:
    """The watcher on the index at ``home``: running or not, and what it last
    reported. None if no watcher has ever run there."""
    home = Path(home)
    try:
        data = json.loads((home / STATE_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        data = None
    except (OSError, ValueError):
        data = {}  # unreadable: still say whether one runs
    running = _lock_is_held(home / LOCK_NAME)
    if data is None and not running:
        return None
    data = data if isinstance(data, dict) else {}
    known = {f for f in WatcherState.__dataclass_fields__} - {"running"}
    values = {k: v for k, v in data.items() if k in known}
    values["roots"] = tuple(values.get("roots") or ())
    if not running:
        values["queue_length"] = 0
    return WatcherState(running=running, **values)


def _lock_is_held(lock_path: Path) -> bool:
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class WatchLock:
    """Exclusive right to watch the index at ``home``; a context manager."""

    def __init__(self, home: Path | str) -> None:
        self.home = Path(home)
        self._fd: int | None = None

    def acquire(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.home / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise WatcherBusy(busy_message(self.home)) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> WatchLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def busy_message(home: Path) -> str:
    state = watcher_state(home)
    who = f" (pid {state.pid})" if state is not None and state.pid else ""
    return f"another watcher{who} is already watching the index at {home}; stop it first, or use another --home"


class StateFile:
    """The running watcher's side: keeps the state in memory, writes it on ``save()``."""

    def __init__(self, home: Path | str) -> None:
        self.path = Path(home) / STATE_NAME
        self.values: dict[str, Any] = {}

    def start(self, roots: list[str]) -> None:
        self.values = {
            "pid": os.getpid(),
            "roots": roots,
            "queue_length": 0,
            "last_error": None,
            "last_error_at": None,
            "started_at": now_iso(),
            "stopped_at": None,
            "last_event_at": None,
            "last_batch_at": None,
            "last_reconcile_at": None,
            "batches": 0,
            "totals": {"captioned": 0, "reused": 0, "removed": 0, "moved": 0, "failed": 0},
        }
        self.save()

    def save(self) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".watch-", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                # ASCII escapes, so a root or error naming a file that is not
                # UTF-8 (surrogate escapes) cannot make the save itself fail.
                json.dump(self.values, f)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
