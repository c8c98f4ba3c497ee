"""Which caption search uses for each photo: the rule, as pure functions.

A photo's content can hold many captions: one per captioner and model that
ever described it, and text a person wrote. Search uses exactly one of them
(its row in ``current_captions``). Human text wins over generated text, so
no re-index ever hides what a person wrote; then the active captioner's
caption, so a re-index with a new model switches search over as a whole;
then the newest. No SQL here: the write path feeds rows in and writes the
answer back (``_writes.commit_current``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

#: Only the short caption is what search ranks by; other tasks (detailed,
#: alt text) are stored but not indexed.
SEARCH_TASK = "caption"


@dataclass(frozen=True)
class Candidate:
    """One caption of the search task that could become a content's current one."""

    caption_id: int
    human: bool
    captioner: str
    model_id: str
    #: ISO 8601 to the second, so string order is time order.
    created_at: str


def pick_current(candidates: Iterable[Candidate], active: tuple[str, str] | None) -> int | None:
    """The caption id search should use among ``candidates``; None if there are none.

    ``active`` is the (captioner, model id) search has switched to, if any.
    Two captions made in the same second go to the higher id, the one
    written last, so the answer never depends on the order rows came in.
    """

    def rank(c: Candidate) -> tuple[bool, bool, str, int]:
        is_active = active is not None and (c.captioner, c.model_id) == active
        return c.human, is_active, c.created_at, c.caption_id

    best = max(candidates, key=rank, default=None)
    return None if best is None else best.caption_id


def pick_all(
    candidates: Mapping[str, Iterable[Candidate]], live: Collection[str], active: tuple[str, str] | None
) -> dict[str, int]:
    """Content hash -> current caption id, for each ``live`` hash (one some
    healthy file still has) that has a candidate. Content no file has is
    not searchable, whatever captions it kept."""
    out: dict[str, int] = {}
    for content_hash in live:
        chosen = pick_current(candidates.get(content_hash, ()), active)
        if chosen is not None:
            out[content_hash] = chosen
    return out


@dataclass(frozen=True)
class CurrentChange:
    """How search's captions move from ``old`` to ``new`` (see ``diff_current``)."""

    #: Hashes whose current row goes (to be replaced, or because nothing is searchable for them now).
    stale: list[str]
    #: Caption ids leaving search: their keyword rows and vectors go.
    removed_ids: list[int]
    #: Content hash -> caption id entering search.
    added: dict[str, int]


def diff_current(old: Mapping[str, int], new: Mapping[str, int], rewritten: Collection[int] = ()) -> CurrentChange:
    """What to delete and insert to go from ``old`` to ``new`` current captions.

    ``rewritten`` are caption ids whose text or vector was replaced in place:
    one that stays current still goes out and comes back in, or its keyword
    row and vector would keep the old text.
    """
    stale = [h for h, cid in old.items() if new.get(h) != cid or cid in rewritten]
    added = {h: cid for h, cid in new.items() if old.get(h) != cid or cid in rewritten}
    return CurrentChange(stale=stale, removed_ids=[old[h] for h in stale], added=added)
