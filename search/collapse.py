"""One card per picture: copies of a photo in the results fold into the best-scoring one.

A library full of backups and exports would otherwise answer a query with
the same picture four times. Two hits are copies when their files hold the
same bytes (one content hash) or the same picture (perceptual hashes within
``SAME_PICTURE_MAX_BITS``, the "same picture" tier of ``picscribe
duplicates``). The card is the copy that ranked best and every card keeps
its place: collapsing only removes the later copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from picscribe.store import SAME_PICTURE_MAX_BITS, as_codes, components, near_pairs

if TYPE_CHECKING:
    from .retriever import Hit


def picture_labels(contents: Sequence[str], picture_hashes: dict[str, bytes]) -> dict[str, int]:
    """A label for each distinct content: equal for the same picture.

    Content without a picture hash (indexed before they existed, and not yet
    filled in), or with an empty one (a flat picture), is a picture of its
    own: only its exact copies join it.
    """
    distinct = sorted(set(contents))
    hashed = [c for c in distinct if picture_hashes.get(c)]
    first, second = near_pairs(as_codes([picture_hashes[c] for c in hashed]), SAME_PICTURE_MAX_BITS)
    labels = {c: int(label) for c, label in zip(hashed, components(len(hashed), first, second), strict=True)}
    unhashed = (c for c in distinct if not picture_hashes.get(c))
    labels.update((c, len(hashed) + k) for k, c in enumerate(unhashed))
    return labels


def collapse_copies(
    hits: Sequence[Hit], contents: Sequence[str], picture_hashes: dict[str, bytes], limit: int
) -> list[Hit]:
    """The first ``limit`` pictures among ``hits`` (best first; ``contents[k]`` is
    ``hits[k]``'s content hash), each carrying the paths of its later copies."""
    labels = picture_labels(contents, picture_hashes)
    cards: list[Hit] = []
    copies: list[list[str]] = []
    card_of: dict[int, int] = {}
    for hit, content in zip(hits, contents, strict=True):
        label = labels[content]
        if label in card_of:
            copies[card_of[label]].append(hit.path)
        elif len(cards) < limit:
            card_of[label] = len(cards)
            cards.append(hit)
            copies.append([])
    return [replace(card, copies=tuple(more)) for card, more in zip(cards, copies, strict=True)]
