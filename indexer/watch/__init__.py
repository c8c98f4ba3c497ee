"""Watch image folders and keep the index in step with them (``picscribe watch``).

A watchdog observer feeds a debounced queue; what settles goes through the
same Indexer as ``picscribe index``. A lock file refuses a second watcher on
one index, and a state file tells ``picscribe status`` and the web UI how it
is going: read it with ``watcher_state(home)``.

The public names load on first use (PEP 562): ``status`` reads the state
file without importing watchdog or the indexing pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picscribe._lazy_exports import lazy_exports

#: Each public name and the module that defines it.
_EXPORTS = {
    "DEFAULT_IGNORE": "._ignore",
    "IgnorePatterns": "._ignore",
    "WatcherBusy": "._state",
    "WatcherState": "._state",
    "WatchLock": "._state",
    "busy_message": "._state",
    "watcher_state": "._state",
    "BatchReport": "._watcher",
    "Watcher": "._watcher",
    "WatchOptions": "._watcher",
}

if TYPE_CHECKING:
    from ._ignore import DEFAULT_IGNORE, IgnorePatterns
    from ._state import WatcherBusy, WatcherState, WatchLock, busy_message, watcher_state
    from ._watcher import BatchReport, Watcher, WatchOptions

__all__ = [
    "DEFAULT_IGNORE",
    "BatchReport",
    "IgnorePatterns",
    "WatchLock",
    "WatchOptions",
    "Watcher",
    "WatcherBusy",
    "WatcherState",
    "busy_message",
    "watcher_state",
]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS, __all__)
