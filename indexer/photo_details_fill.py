"""Read where and with what each indexed content was taken (GPS, camera) from its EXIF.

Run at the end of every ``index`` and watcher update, for the content that
has no details yet: what this run captioned, and everything an index made
before schema 8 holds. Only headers are read (``photo_details``), nothing is
decoded or captioned, and each batch is one transaction, so a stopped run
keeps what it wrote and the next one picks up the rest.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from picscribe.store import PhotoDetails, Store

from .photo_details import ExifFacts, ExifUnreadable, read_exif_facts
from .places import GeocoderUnavailable, places_at

log = logging.getLogger(__name__)

#: Contents read and written per transaction.
FILL_BATCH = 256


@dataclass
class DetailsReport:
    #: Content whose EXIF had not been read when the run began.
    missing: int = 0
    filled: int = 0
    #: Of ``filled``: how many got a place name.
    placed: int = 0
    #: (path, why) for GPS that is in the file but cannot be used (out of
    #: range, malformed): the photo stays indexed and searchable, without a place.
    gps_skipped: list[tuple[str, str]] = field(default_factory=list)
    #: Why no place names could be looked up at all this run (None: they could).
    places_unavailable: str | None = None
    #: Seconds spent naming places; the first lookup in a process loads the data (0 when no photo had GPS).
    places_seconds: float = 0.0


def fill_photo_details(store: Store, *, workers: int = 2, paths: Sequence[str] | None = None) -> DetailsReport:
    """Read the EXIF of each content that has no details yet and store its place and camera.
    ``paths``: only content at these paths (a watcher's update); None: the whole library."""
    missing = store.contents_without_details(paths)
    report = DetailsReport(missing=len(missing))
    for start in range(0, len(missing), FILL_BATCH):
        batch = missing[start : start + FILL_BATCH]
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="picscribe-exif") as pool:
            facts = list(pool.map(lambda row: _facts_if_unchanged(row[1], row[2], row[3]), batch))
        read = [(row, f) for row, f in zip(batch, facts, strict=True) if f is not None]
        details = _with_places([(h, path, f) for (h, path, _, _), f in read], report)
        store.write_photo_details(details)
        report.filled += len(details)
        report.placed += sum(d.place is not None for d in details)
    return report


def _facts_if_unchanged(path: str, size: int, mtime_ns: int) -> ExifFacts | None:
    """The file's EXIF facts; None when it is gone or changed since it was indexed
    (``index`` reads it again, and this runs after). A file Pillow cannot open
    (a RAW, read through its preview) has no facts, and is not read again."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
        return None
    try:
        return read_exif_facts(path)
    except ExifUnreadable as exc:
        log.debug("no EXIF read from %s: %s", path, exc)
        return ExifFacts()


def _with_places(read: list[tuple[str, str, ExifFacts]], report: DetailsReport) -> list[PhotoDetails]:
    """Records for the facts read, with the place at each photo's GPS."""
    located = [(lat, lon) for _, _, f in read if (lat := f.latitude) is not None and (lon := f.longitude) is not None]
    places = []
    if located and report.places_unavailable is None:
        started = time.perf_counter()
        try:
            places = places_at(located)
        except GeocoderUnavailable as exc:
            report.places_unavailable = str(exc)
            log.warning("photos are indexed without place names: %s", exc)
        report.places_seconds += time.perf_counter() - started
    place_iter = iter(places)
    out: list[PhotoDetails] = []
    for content_hash, path, f in read:
        if f.gps_problem is not None:
            report.gps_skipped.append((path, f.gps_problem))
        has_gps = f.latitude is not None and f.longitude is not None
        if has_gps and report.places_unavailable is not None:
            continue  # left without a row, so a run that can name places reads it again
        place = next(place_iter, None) if has_gps else None
        out.append(
            PhotoDetails(
                content_hash=content_hash,
                latitude=f.latitude,
                longitude=f.longitude,
                place=place,
                camera_make=f.camera_make,
                camera_model=f.camera_model,
                camera=f.camera,
            )
        )
    return out
