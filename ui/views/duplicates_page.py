"""Duplicates: groups of copies as rows of thumbnails, by tier, with the file to keep.

The page only lists, like ``picscribe duplicates``: nothing is deleted or
moved. The others' paths sit in a code block, whose copy button puts them on
the clipboard for whatever the user deletes or moves them with.
"""

from __future__ import annotations

import os

import streamlit as st

from picscribe.duplicates import TIERS, DuplicateGroup
from picscribe.store import LibraryFile
from picscribe.ui.pictures import CHANGED_SINCE_INDEXED, picture
from picscribe.ui.services import Services
from picscribe.ui.settings import UiSettings

from . import _nav
from ._empty import no_index

_TIER_LABELS = {
    "exact": "Exact copies (same bytes)",
    "same": "Same picture (resized, re-encoded, converted, cropped)",
    "similar": "Similar shots (a burst)",
}
#: Groups drawn per page: each costs a row of thumbnails.
_SHOWN = 30
#: Thumbnails per row; a bigger group lists the rest by path only.
_COLUMNS = 6


def render(services: Services | None, settings: UiSettings) -> None:
    _nav.sidebar(_nav.DUPLICATES)
    st.title("Duplicates")
    if services is None:
        no_index(settings)
        return
    tier = st.radio(
        "Tier", TIERS, format_func=_TIER_LABELS.__getitem__, key="dup-tier", horizontal=True, persist_state="session"
    )
    missing = len(services.store.contents_without_picture_hash())
    if missing and tier != "exact":
        st.info(
            f"{missing} photos indexed by an older picscribe have no picture hash yet, so they are missing here. "
            "Run `picscribe duplicates` once to compute them.",
            icon=":material/info:",
        )
    groups = services.library.duplicates((tier,))
    if not groups:
        st.success("No duplicates in this tier.", icon=":material/check_circle:")
        return
    st.caption(f"{len(groups)} groups · picscribe never deletes or moves a file: it lists them")
    for number, group in enumerate(groups[:_SHOWN]):
        _group(services, group, number)
    if len(groups) > _SHOWN:
        st.caption(f"…and {len(groups) - _SHOWN} more groups: `picscribe duplicates --tier {tier}` lists them all")


def _group(services: Services, group: DuplicateGroup, number: int) -> None:
    with st.container(border=True, key=f"dup-group-{number}"):
        files = [f for f in group.files if services.servable(f.path)]
        for col, f in zip(st.columns(_COLUMNS), files[:_COLUMNS], strict=False):
            with col:
                _thumbnail(services, f, keep=f is group.keep)
        st.markdown(f"**Keep** `{_nav.plain(group.keep.path)}` — {_nav.plain(group.why)}")
        others = [f.path for f in group.others]
        st.caption(f"The other {len(others)} (copy the paths with the button on the right):")
        st.code("\n".join(others), language=None)


def _thumbnail(services: Services, f: LibraryFile, *, keep: bool) -> None:
    thumb = picture(services.thumbnails, f.path)
    name = os.path.basename(f.path)
    if thumb:
        st.image(str(thumb), width="stretch", alt=f"{name}: {'keep' if keep else 'copy'}")
    else:
        st.markdown(f"*{CHANGED_SINCE_INDEXED}*")
    size = f"{f.width}x{f.height}" if f.width and f.height else "size unknown"
    st.caption(f"{'**keep** · ' if keep else ''}{_nav.plain(name)} · {size}")
