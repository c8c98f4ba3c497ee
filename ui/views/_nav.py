"""Where the user is: kept in the URL (``?image=``, ``?view=``) so a page can be linked and reloaded."""

from __future__ import annotations

import re

import streamlit as st

SEARCH, STATUS, DUPLICATES = "search", "status", "duplicates"
#: Session key: the image whose look-alikes the search page shows instead of a query's results.
SIMILAR_TO = "similar_to"


def current_image() -> str | None:
    return st.query_params.get("image")


def current_view() -> str:
    return st.query_params.get("view", SEARCH)


def open_image(path: str) -> None:
    st.query_params["image"] = path


def go(view: str) -> None:
    st.query_params.pop("image", None)
    st.query_params["view"] = view


def find_similar(path: str) -> None:
    st.session_state[SIMILAR_TO] = path
    go(SEARCH)


def clear_similar() -> None:
    st.session_state.pop(SIMILAR_TO, None)


def sidebar(active: str) -> None:
    st.sidebar.markdown("## :material/photo_library: picscribe")
    for view, label, icon in (
        (SEARCH, "Search", ":material/search:"),
        (DUPLICATES, "Duplicates", ":material/content_copy:"),
        (STATUS, "Status", ":material/monitoring:"),
    ):
        st.sidebar.button(
            label,
            key=f"nav-{view}",
            on_click=go,
            args=(view,),
            width="stretch",
            icon=icon,
            type="primary" if view == active else "secondary",
        )


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: str) -> str:
    """``text`` shown as written: a caption or file name is data, not markdown."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
