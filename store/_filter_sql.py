"""SQL text for ``SearchFilters``, and the key range of "anything inside this folder".

Plain SQL with ``?`` parameters and no SQLAlchemy, so that a cold search
(``_search_view``) reads with the stdlib ``sqlite3`` module; the Store runs
the same text on its own connection (``_search_reads``), so there is one
spelling of each filter. The conditions are written over the aliases ``cc``
(current_captions) and ``i`` (images) and compose in any mix (a folder,
dates, captioner, objects, place, camera). Each comment on cost is a
measurement at 1M images.
"""

from __future__ import annotations

from ._migrations import WHEN_SQL
from ._photo_details import fold, place_needle
from ._records import SearchFilters

#: The searched caption of each healthy image: what every filter is checked on.
ALLOWED_FROM = " FROM current_captions AS cc JOIN images AS i ON i.content_hash = cc.content_hash WHERE i.status = 'ok'"


def folder_range(folder: str) -> tuple[str, str]:
    """The half-open key range [low, high) of the paths strictly inside ``folder``.

    A key range rather than substr(), so SQLite can use the index on path:
    every string starting with "dir/" sorts at or after "dir/" and before
    "dir0" ('0' is the byte after '/').
    """
    prefix = folder.rstrip("/") + "/"
    return prefix, prefix[:-1] + "0"


def under_sql(column: str, root: str) -> tuple[str, list[object]]:
    """SQL condition: ``column`` is ``root`` itself or a path inside it.

    A key range (see ``folder_range``) rather than LIKE, so '%' and '_'
    in folder names are not wildcards, and rather than substr(), which
    cannot use the index on path: a folder filter scanned every image (0.3 s at 1M).
    """
    root = root.rstrip("/") or "/"
    low, high = folder_range(root)
    return f"({column} = ? OR {column} >= ? AND {column} < ?)", [root, low, high]


def filter_sql(filters: SearchFilters, *, listing: bool = False) -> tuple[str, list[object]]:
    """SQL conditions on a join of current_captions ``cc`` and images ``i``,
    each starting with " AND " (empty when ``filters`` has none), and their parameters.

    ``listing``: the query lists every allowed id in the library, so an
    object label is tested with IN over ix_objects_label, which lets SQLite
    start from that label's rows (1.2 s -> 0.1 s at 1M images). For a few
    known candidates a correlated EXISTS is cheaper: IN would read all of
    the label's rows for every query.
    """
    sql: list[str] = []
    params: list[object] = []

    def add(condition: str, *values: object) -> None:
        sql.append(" AND " + condition)
        params.extend(values)

    if filters.folder:
        condition, values = under_sql("i.path", filters.folder)
        add(condition, *values)
    # Photos without EXIF time fall back to the file's modification time.
    # Written out literally so that it is the expression ix_images_when indexes
    # (unqualified: index expressions cannot name a table; no other table has these columns).
    if filters.date_from:
        add(f"{WHEN_SQL} >= ?", filters.date_from)
    if filters.date_to:
        add(f"{WHEN_SQL} <= ?", filters.date_to)
    if filters.has_text:
        add(_searched_caption("sc.ocr_text != ''"))
    if filters.captioner:
        add(_searched_caption("sc.captioner = ?"), filters.captioner)
    if filters.model:
        add(_searched_caption("sc.model_id = ?"), filters.model)
    if filters.place and fold(filters.place):
        add(_photo_detail("instr(fd.place_key, ?) > 0"), place_needle(filters.place))
    if filters.camera and fold(filters.camera):
        add(_photo_detail("instr(fd.camera_key, ?) > 0"), fold(filters.camera))
    for label in filters.objects:
        if listing:
            add("cc.caption_id IN (SELECT o.caption_id FROM objects AS o WHERE o.label = ?)", label)
        else:
            add("EXISTS (SELECT 1 FROM objects AS o WHERE o.caption_id = cc.caption_id AND o.label = ?)", label)
    return "".join(sql), params


def allowed_sql(filters: SearchFilters, *, listing: bool = False) -> tuple[str, list[object]]:
    """SELECT of the searched caption ids of healthy images that ``filters`` lets through."""
    conditions, params = filter_sql(filters, listing=listing)
    return "SELECT cc.caption_id" + ALLOWED_FROM + conditions, params


def _searched_caption(condition: str) -> str:
    """SQL condition: the row's searched caption (alias ``sc``) meets ``condition``.

    A correlated EXISTS over its own alias of captions, so it works the same
    in queries that already join captions and in those that do not.
    """
    return f"EXISTS (SELECT 1 FROM captions AS sc WHERE sc.id = cc.caption_id AND {condition})"


def _photo_detail(condition: str) -> str:
    """SQL condition: the row's content has EXIF details (alias ``fd``) meeting ``condition``.

    A correlated EXISTS on the content hash (photo_details' primary key), so
    checking search candidates costs one lookup each. instr() rather than
    LIKE: '%' and '_' in what the user typed are not wildcards. Its own
    alias, so it stays a subquery in queries that join photo_details already.
    """
    return f"EXISTS (SELECT 1 FROM photo_details AS fd WHERE fd.content_hash = cc.content_hash AND {condition})"
