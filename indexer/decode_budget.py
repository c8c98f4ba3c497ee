"""A memory budget shared by the decode workers: at most so many bytes of pixels in flight.

Pillow inflates a whole image before anything can shrink it, so a 170 KB PNG
can take 700 MB for a moment; four workers doing that at once is what runs a
machine out of memory. Each worker reserves the bytes its image will inflate
to before decoding, and waits while the others hold too much. Normal photos
are far below the budget and never wait.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Pixels in flight across all decode workers: a near-limit PNG (about 700 MB
#: decoded) runs alone, four 24 MP PNGs (about 100 MB each) run side by side.
DEFAULT_DECODE_MEMORY = 1024 * 1024 * 1024


class DecodeBudget:
    def __init__(self, capacity_bytes: int = DEFAULT_DECODE_MEMORY) -> None:
        if capacity_bytes < 1:
            raise ValueError(f"decode memory budget must be at least 1 byte, not {capacity_bytes}")
        self.capacity = capacity_bytes
        self._in_use = 0
        # Admission is first come, first served: a big image waiting for room
        # is not overtaken for ever by small ones that would still fit.
        self._next_ticket = 0
        self._admitting = 0
        self._changed = threading.Condition()

    @property
    def in_use(self) -> int:
        with self._changed:
            return self._in_use

    @contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        """Wait until ``nbytes`` fit, hold them for the block, then give them back.

        One image larger than the whole budget still runs, but alone: refusing
        it is the pixel limit's job, not this one's, and waiting for room that
        can never come would hang the run.
        """
        nbytes = max(0, nbytes)
        with self._changed:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._changed.wait_for(
                lambda: self._admitting == ticket and (self._in_use == 0 or self._in_use + nbytes <= self.capacity)
            )
            self._in_use += nbytes
            self._admitting += 1
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self._in_use -= nbytes
                self._changed.notify_all()
