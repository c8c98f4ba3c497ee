"""Watch image folders and keep the index in step with them (``picscribe watch``).

A watchdog observer feeds a debounced queue; what settles goes through the
same Indexer as ``picscribe index``. A lock file refuses a second watcher on
one index, and a state file tells ``picscribe status`` and the web UI how it
is going: read it with ``watcher_state(home)``.
"""

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
