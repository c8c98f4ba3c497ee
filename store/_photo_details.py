"""Where and with what each content was taken (schema 8): the rows of
``photo_details``, the folded keys the ``place`` and ``camera`` filters
match, and the text the keyword index holds as its ``place`` field.

The keys are folded here, in Python, because SQLite's ``lower()`` folds
only ASCII: "ÉVORA" would not find "Évora". Folding drops accents too, so
"Sao Paulo" finds "São Paulo" as people type it.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ._chunks import chunks
from ._records import PhotoDetails, Place

if TYPE_CHECKING:  # annotations only: search's filters fold text without importing SQLAlchemy
    from sqlalchemy import Connection

#: Columns in the order ``details_row`` gives them and ``_UPSERT`` binds them.
COLUMNS = (
    "content_hash",
    "latitude",
    "longitude",
    "city",
    "region",
    "country",
    "country_code",
    "place_key",
    "camera_make",
    "camera_model",
    "camera",
    "camera_key",
)
UPSERT = (
    f"INSERT INTO photo_details ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    " ON CONFLICT (content_hash) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
)
#: Separates the names in ``place_key``, so a filter matches whole names only
#: ("Lisbon" is not "Lisbon Falls").
_SEP = "|"


def fold(text: str) -> str:
    """``text`` as the filters compare it: case and accents gone, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().replace(_SEP, " ").split())


def place_key(place: Place | None) -> str:
    """ "|lisbon|lisbon|portugal|pt|": each name on its own, for a whole-name match."""
    if place is None:
        return ""
    names = [fold(x) for x in (place.city, place.region, place.country, place.country_code) if x]
    names = [n for n in names if n]
    return _SEP + _SEP.join(names) + _SEP if names else ""


def place_needle(name: str) -> str:
    """What ``place_key`` must contain for ``name`` to match."""
    return _SEP + fold(name) + _SEP


def camera_key(details: PhotoDetails) -> str:
    """Make, model and the name people say, folded, for a substring match:
    "nikon corporation nikon d750 nikon d750"."""
    return " ".join(fold(x) for x in (details.camera_make, details.camera_model, details.camera) if x)


def details_row(details: PhotoDetails) -> tuple[object, ...]:
    """``details`` in COLUMNS order."""
    place = details.place or Place()
    return (
        details.content_hash,
        details.latitude,
        details.longitude,
        place.city,
        place.region,
        place.country,
        place.country_code,
        place_key(details.place),
        details.camera_make,
        details.camera_model,
        details.camera,
        camera_key(details),
    )


def details_from_row(row: Sequence[Any]) -> PhotoDetails:
    """A row of ``SELECT {COLUMNS}`` as a record."""
    h, lat, lon, city, region, country, code, _pkey, make, model, camera, _ckey = row
    names = (city, region, country, code)
    return PhotoDetails(
        content_hash=h,
        latitude=lat,
        longitude=lon,
        place=Place(city, region, country, code) if any(names) else None,
        camera_make=make,
        camera_model=model,
        camera=camera,
    )


def details_by_hash(conn: Connection, content_hashes: Iterable[str]) -> dict[str, PhotoDetails]:
    """The stored details of each of ``content_hashes`` that has a row."""
    found: dict[str, PhotoDetails] = {}
    for part in chunks(sorted(set(content_hashes))):
        sql = f"SELECT {', '.join(COLUMNS)} FROM photo_details WHERE content_hash IN ({', '.join('?' * len(part))})"
        for row in conn.exec_driver_sql(sql, tuple(part)).cursor.fetchall():
            found[row[0]] = details_from_row(row)
    return found


def place_words_by_caption(conn: Connection, caption_ids_json: str) -> dict[int, str]:
    """The keyword index's ``place`` text for each caption (by its content's details)."""
    sql = (
        "SELECT c.id, d.city, d.region, d.country FROM captions AS c"
        " JOIN photo_details AS d ON d.content_hash = c.content_hash"
        " WHERE c.id IN (SELECT value FROM json_each(?))"
    )
    rows = conn.exec_driver_sql(sql, (caption_ids_json,)).cursor.fetchall()
    return {int(cid): Place(city, region, country).words for cid, city, region, country in rows}


def contents_without_details(conn: Connection, paths: Sequence[str] | None = None) -> list[tuple[str, str, int, int]]:
    """(content hash, path, size, mtime_ns) of one ok file of each content whose
    EXIF was not read yet (indexed before schema 8, or read since by nothing).

    ``paths``: look only at the files at these paths (a watcher's few), through
    the path index; None looks at every file (0.5 s at 300k images).
    """
    where = "" if paths is None else " AND i.path IN (SELECT value FROM json_each(?))"
    sql = (
        "SELECT i.content_hash, min(i.path), i.size, i.mtime_ns FROM images AS i"
        " WHERE i.status = 'ok' AND i.content_hash IS NOT NULL"
        + where
        + " AND NOT EXISTS (SELECT 1 FROM photo_details AS d WHERE d.content_hash = i.content_hash)"
        " GROUP BY i.content_hash ORDER BY min(i.path)"
    )
    params = () if paths is None else (json.dumps(list(paths)),)
    return [(h, p, int(s), int(m)) for h, p, s, m in conn.exec_driver_sql(sql, params).cursor.fetchall()]
