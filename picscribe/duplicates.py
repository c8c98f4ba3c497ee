"""``picscribe duplicates``: copies in three tiers, each shown as what it is.

- **exact**: the same bytes (the SHA-256 the index keys captions by);
- **same**: the same picture in other bytes: resized, re-encoded,
  converted, turned by EXIF, lightly cropped, metadata edited (perceptual
  hashes within ``SAME_PICTURE_MAX_BITS``, found without comparing every pair);
- **similar**: different pictures of one moment, a burst: taken within
  ``SIMILAR_WITHIN_SECONDS`` of each other by their EXIF capture time, with
  captions whose vectors agree (cosine at least ``SIMILAR_MIN_COSINE``).

Users of other photo tools complain that "duplicates" mixes true copies
with merely similar shots; here each group says its tier, and "similar"
never claims two shots are copies. Each group suggests a file to keep and
says why. picscribe lists; it never deletes or moves a file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from picscribe.store import SAME_PICTURE_MAX_BITS, as_codes, components, near_pairs

if TYPE_CHECKING:  # annotations only: `picscribe search` imports this module (the Library) and not the Store
    from picscribe.store import LibraryFile, Store

TIERS = ("exact", "same", "similar")

#: Shots of one burst: at most this far apart by EXIF capture time. Phones
#: take a burst at 3 to 30 frames a second and people re-take a shot within
#: seconds; files without an EXIF time are never "similar" (a file's mtime
#: says when it was copied, not when it was taken).
SIMILAR_WITHIN_SECONDS = 10.0
#: And at least this alike by caption vector, so that two people shooting
#: different things at one party in the same second are not a burst.
SIMILAR_MIN_COSINE = 0.8


@dataclass(frozen=True)
class DuplicateGroup:
    """Files that are copies (or similar shots) of one another."""

    tier: str
    keep: LibraryFile
    #: Why ``keep`` is suggested: largest resolution, then oldest, then shortest path.
    why: str
    others: tuple[LibraryFile, ...]

    @property
    def files(self) -> tuple[LibraryFile, ...]:
        return (self.keep, *self.others)

    def to_json(self) -> dict[str, object]:
        return {
            "tier": self.tier,
            "keep": _file_json(self.keep),
            "why": self.why,
            "others": [_file_json(f) for f in self.others],
        }


def find_duplicates(store: Store, tiers: Sequence[str] = TIERS, folder: str | None = None) -> list[DuplicateGroup]:
    """The groups of each of ``tiers`` among the files inside ``folder`` (default: all).

    Within a tier, groups come biggest first, then by the kept file's path.
    """
    unknown = set(tiers) - set(TIERS)
    if unknown:
        raise ValueError(f"unknown tier {sorted(unknown)[0]!r}; the tiers are {', '.join(TIERS)}")
    files = store.library_files(folder)
    by_content: dict[str, list[LibraryFile]] = defaultdict(list)
    for f in files:
        by_content[f.content_hash].append(f)
    groups: list[DuplicateGroup] = []
    if "exact" in tiers:
        groups += _groups("exact", [same for same in by_content.values() if len(same) > 1])
    if "same" in tiers or "similar" in tiers:
        pictures = _pictures(by_content)
        if "same" in tiers:
            # A picture held in one content only is an exact-copies group, not this tier's.
            groups += _groups("same", [_flat(p) for p in pictures if len(p) > 1])
        if "similar" in tiers:
            groups += _groups("similar", [_flat(b) for b in _bursts(store, pictures)])
    return groups


def _flat(contents: Sequence[Sequence[LibraryFile]]) -> list[LibraryFile]:
    return [f for same in contents for f in same]


def _pictures(by_content: dict[str, list[LibraryFile]]) -> list[list[list[LibraryFile]]]:
    """The contents grouped into pictures (same-picture components); a content without a
    picture hash, or with an empty one (a flat picture), is a picture of its own."""
    contents = list(by_content.values())
    hashed = [k for k, same in enumerate(contents) if same[0].picture_hash]
    codes = as_codes([contents[k][0].picture_hash or b"" for k in hashed])
    first, second = near_pairs(codes, SAME_PICTURE_MAX_BITS)
    members: dict[int, list[list[LibraryFile]]] = defaultdict(list)
    for k, label in zip(hashed, components(len(hashed), first, second), strict=True):
        members[int(label)].append(contents[k])
    pictures = list(members.values())
    pictures += [[same] for same in contents if not same[0].picture_hash]
    return pictures


def _bursts(store: Store, pictures: list[list[list[LibraryFile]]]) -> list[list[list[LibraryFile]]]:
    """Runs of pictures taken within SIMILAR_WITHIN_SECONDS of the one before, with
    captions at least SIMILAR_MIN_COSINE alike: two or more pictures each.

    Sorted by capture time, each picture is compared with the next only:
    O(n log n) at any size, and a burst is a chain of consecutive shots.
    """
    timed: list[tuple[float, int]] = []
    for k, picture in enumerate(pictures):
        times = [t for same in picture for f in same if (t := _seconds(f.taken_at)) is not None]
        if times and _caption_id(picture) is not None:
            timed.append((min(times), k))
    timed.sort()
    if len(timed) < 2:
        return []
    index = store.vector_index()
    runs: list[list[int]] = [[timed[0][1]]]
    for (before, prev), (when, k) in zip(timed, timed[1:], strict=False):
        a, b = _caption_id(pictures[prev]), _caption_id(pictures[k])
        assert a is not None and b is not None
        alike = a == b or float(np.dot(index.vector(a), index.vector(b))) >= SIMILAR_MIN_COSINE
        if when - before <= SIMILAR_WITHIN_SECONDS and alike:
            runs[-1].append(k)
        else:
            runs.append([k])
    return [[same for k in run for same in pictures[k]] for run in runs if len(run) > 1]


def _caption_id(picture: Sequence[Sequence[LibraryFile]]) -> int | None:
    return next((f.caption_id for same in picture for f in same if f.caption_id is not None), None)


def _seconds(taken_at: str | None) -> float | None:
    if taken_at is None:
        return None
    try:
        return datetime.strptime(taken_at, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _groups(tier: str, members: list[list[LibraryFile]]) -> list[DuplicateGroup]:
    groups = []
    for files in members:
        keep, why = suggest_keep(files)
        others = tuple(sorted((f for f in files if f is not keep), key=lambda f: f.path))
        groups.append(DuplicateGroup(tier, keep, why, others))
    groups.sort(key=lambda g: (-len(g.others), g.keep.path))
    return groups


def suggest_keep(files: Sequence[LibraryFile]) -> tuple[LibraryFile, str]:
    """The file to keep, and why: the largest resolution, then the oldest, then the shortest path."""
    ranked = sorted(files, key=lambda f: (-_pixels(f), f.mtime_ns, len(f.path), f.path))
    best, runner_up = ranked[0], ranked[1]
    if _pixels(best) > _pixels(runner_up):
        return best, f"largest resolution ({best.width}x{best.height}; next {runner_up.width}x{runner_up.height})"
    if best.mtime_ns < runner_up.mtime_ns:
        return best, f"same resolution; oldest file (modified {_when(best.mtime_ns)})"
    if len(best.path) < len(runner_up.path):
        return best, "same resolution and age; shortest path"
    return best, "same resolution, age and path length; first by name"


def _pixels(f: LibraryFile) -> int:
    return (f.width or 0) * (f.height or 0)


def _when(mtime_ns: int) -> str:
    return datetime.fromtimestamp(mtime_ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _file_json(f: LibraryFile) -> dict[str, object]:
    return {
        "path": f.path,
        "sha256": f.content_hash,
        "size": f.size,
        "width": f.width,
        "height": f.height,
        "taken_at": f.taken_at,
        "modified": _when(f.mtime_ns),
    }
