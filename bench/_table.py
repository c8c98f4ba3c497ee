"""One row per figure, each next to the baseline it is measured against."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Row:
    section: str
    measure: str
    value: float
    unit: str
    baseline: str = ""  # what the ratio divides by, measured in the same run
    baseline_value: float | None = None
    goal: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline_value in (None, 0):
            return None
        return self.value / self.baseline_value


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM belongs to the address space, which
    execve replaces; getrusage's ru_maxrss survives execve on Linux, so a
    child forked from a large parent would report the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds of samples in seconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1e3, p99 * 1e3


def timed_each(fn: Callable[[T], object], items: Iterable[T]) -> list[float]:
    """Seconds each ``fn(item)`` took."""
    out = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - started)
    return out


def _fmt(v: float | None) -> str:
    if v is None:
        return ""
    if v == 0 or abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def render(rows: list[Row]) -> str:
    head = ("section", "measure", "value", "baseline", "ratio", "goal", "note")
    cells = [
        (
            r.section,
            r.measure,
            f"{_fmt(r.value)} {r.unit}".strip(),
            f"{r.baseline} = {_fmt(r.baseline_value)}" if r.baseline else "",
            _fmt(r.ratio),
            (r.goal + (" ok" if r.met else " MISSED" if r.met is False else "")).strip(),
            r.note,
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(head)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)), "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip() for cell in cells]
    return "\n".join(lines)


def to_json(rows: list[Row]) -> str:
    return json.dumps([asdict(r) | {"ratio": r.ratio} for r in rows], indent=1)
