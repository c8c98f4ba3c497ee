"""The status page's model: what the index holds, and the watcher."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picscribe.store import Store, StoreStatus

from .filters import CaptionerChoice


@dataclass(frozen=True)
class WatcherLine:
    available: bool
    running: bool = False
    text: str = "watcher: not available"
    roots: tuple[str, ...] = ()
    last_error: str | None = None


@dataclass(frozen=True)
class StatusView:
    status: StoreStatus
    watcher: WatcherLine

    @property
    def captioned(self) -> int:
        return self.status.searchable

    @property
    def by_model(self) -> tuple[CaptionerChoice, ...]:
        return tuple(CaptionerChoice(n, m, c) for n, m, c in self.status.captions_by_model)


def status_view(store: Store, home: Path, failure_limit: int = 200) -> StatusView:
    return StatusView(store.status(failure_limit=failure_limit), watcher_line(home))


def watcher_line(home: Path) -> WatcherLine:
    try:
        from picscribe.indexer.watch import watcher_state
    except ImportError:  # a picscribe without `watch`
        return WatcherLine(available=False)
    return describe_watcher(watcher_state(home))


def describe_watcher(state: Any) -> WatcherLine:
    if state is None:
        return WatcherLine(available=True, text="watcher: never run")
    if state.running:
        text = f"watcher: running (pid {state.pid}) since {state.started_at}, {state.queue_length} queued"
        if getattr(state, "last_event_at", None):
            text += f", last change seen {state.last_event_at}"
    else:
        stopped = getattr(state, "stopped_at", None)
        text = f"watcher: stopped {stopped}" if stopped else "watcher: not running"
    return WatcherLine(True, bool(state.running), text, tuple(state.roots), state.last_error)
