"""Counting what an API backend spends, and deciding when it must stop.

One ``Meter`` per backend object, shared by its request threads. It keeps
the usage the index report shows, enforces the optional request and token
budgets, and stops the backend when requests keep failing, so a dead server
or a revoked key costs a handful of requests instead of one per photo.
"""

from __future__ import annotations

import threading

from ...captioning import CaptionerStopped, Usage

#: Failed requests in a row (each after the client's own retries) before the
#: backend gives up for the rest of the run.
DEFAULT_MAX_CONSECUTIVE_FAILURES = 8


class Meter:
    def __init__(
        self,
        backend: str,
        *,
        max_requests: int | None = None,
        max_tokens: int | None = None,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
    ) -> None:
        for name, value in (("max_requests", max_requests), ("max_tokens", max_tokens)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, not {value}")
        if max_consecutive_failures < 1:
            raise ValueError(f"max_consecutive_failures must be >= 1, not {max_consecutive_failures}")
        self.backend = backend
        self.max_requests = max_requests
        self.max_tokens = max_tokens
        self.max_consecutive_failures = max_consecutive_failures
        self._lock = threading.Lock()
        self._requests = 0
        self._failed = 0
        self._input = 0
        self._output = 0
        self._in_a_row = 0
        self._stopped: str | None = None

    @property
    def usage(self) -> Usage:
        with self._lock:
            return Usage(self._requests, self._failed, self._input, self._output)

    @property
    def stopped(self) -> str | None:
        return self._stopped

    def start(self) -> None:
        """Reserve one request, or raise CaptionerStopped.

        The token budget is checked before a request, with the tokens of
        requests already answered: requests in flight can overshoot it by at
        most ``concurrency`` replies. The request budget is exact.
        """
        with self._lock:
            if self._stopped is None:
                if self.max_requests is not None and self._requests >= self.max_requests:
                    self._stopped = (
                        f"{self.backend}: request budget spent "
                        f"({self._requests} sent; --max-requests {self.max_requests})"
                    )
                elif self.max_tokens is not None and self._input + self._output >= self.max_tokens:
                    self._stopped = (
                        f"{self.backend}: token budget spent ({self._input + self._output} used; "
                        f"--max-tokens {self.max_tokens})"
                    )
            if self._stopped is not None:
                raise CaptionerStopped(self._stopped)
            self._requests += 1

    def succeeded(self, input_tokens: int | None, output_tokens: int | None) -> None:
        with self._lock:
            self._in_a_row = 0
            self._input += input_tokens or 0
            self._output += output_tokens or 0

    def failed(self, error: Exception, *, fatal: bool) -> CaptionerStopped | None:
        """Count a failed request; the CaptionerStopped to raise instead when the run must end."""
        with self._lock:
            self._failed += 1
            self._in_a_row += 1
            if self._stopped is None:
                if fatal:
                    self._stopped = str(error)
                elif self._in_a_row >= self.max_consecutive_failures:
                    self._stopped = f"{self.backend}: {self._in_a_row} requests in a row failed; the last: {error}"
            return CaptionerStopped(self._stopped) if self._stopped is not None else None
