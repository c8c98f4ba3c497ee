"""Search: a query box, filters, and a grid of thumbnails with caption and score."""

from __future__ import annotations

import os

import streamlit as st

from picscribe.store import SearchFilters
from picscribe.ui.filters import CaptionerChoice, build_filters
from picscribe.ui.pictures import CHANGED_SINCE_INDEXED
from picscribe.ui.results import PAGE, ResultState, ResultsView
from picscribe.ui.services import Services
from picscribe.ui.settings import UiSettings

from . import _nav
from ._empty import no_index

_ALL = "All"
_PLACE_HELP = (
    "A city, region or country where photos were taken, by their GPS, or a country code. "
    "Place names: GeoNames (geonames.org), CC BY 4.0."
)


def render(services: Services | None, settings: UiSettings) -> None:
    _nav.sidebar(_nav.SEARCH)
    if services is None:
        st.title("Search your photos")
        no_index(settings)
        return
    filters = _filters(services)
    columns = st.sidebar.slider("Thumbnails per row", 2, 8, 4, key="columns", persist_state="session")
    similar = st.session_state.get(_nav.SIMILAR_TO)
    if similar and services.servable(similar):
        st.title(f"Photos like {_nav.plain(os.path.basename(similar))}")
        st.button("← Back to search", on_click=_nav.clear_similar)
        view = services.results.like(similar, filters, _limit(("similar", similar, filters)))
    else:
        st.title("Search your photos")
        _query_from_link()
        query = st.text_input(
            "Describe the photo you are looking for",
            key="q",
            placeholder="e.g. a dog on the beach, a birthday cake, a red bus",
            live="400ms",
            persist_state="session",
        )
        _query_to_link(query or "")
        view = services.results.for_query(query or "", filters, _limit(("query", query, filters)))
    _results(view, columns, services)


#: The query the URL's ?q= held when this session last wrote or read it.
_LINKED = "q-linked"


def _query_from_link() -> None:
    """A ?q= the session has not seen (a bookmark, a shared link, the back button) fills the box."""
    linked = st.query_params.get("q")
    if linked is not None and linked != st.session_state.get(_LINKED):
        st.session_state["q"] = linked
        st.session_state[_LINKED] = linked


def _query_to_link(query: str) -> None:
    """The URL follows the box, so a search can be bookmarked or sent."""
    query = query.strip()
    if query:
        st.query_params["q"] = query
    else:
        st.query_params.pop("q", None)
    st.session_state[_LINKED] = query or None


def _limit(search: object) -> int:
    """How many cards to show: a page, and a page more per "Show more", until the search changes."""
    if st.session_state.get("shown-for") != search:
        st.session_state["shown-for"] = search
        st.session_state["shown"] = PAGE
    return int(st.session_state["shown"])


def _show_more() -> None:
    st.session_state["shown"] = int(st.session_state.get("shown", PAGE)) + PAGE


def _filters(services: Services) -> SearchFilters:
    bar = st.sidebar
    bar.markdown("### Filters")
    folders = [_ALL, *services.folders()]
    folder = bar.selectbox("Folder", folders, key="f_folder", persist_state="session")
    date_from = bar.date_input("Taken from", value=None, key="f_from", persist_state="session")
    date_to = bar.date_input("Taken to", value=None, key="f_to", persist_state="session")
    has_text = bar.checkbox("Has text in it", key="f_text", persist_state="session")
    by_model = [CaptionerChoice(n, m, c) for n, m, c in services.store.status(failure_limit=0).captions_by_model]
    labels = {c.label: c for c in by_model}
    picked = bar.selectbox("Captioner", [_ALL, *labels], key="f_captioner", persist_state="session")
    place = bar.text_input(
        "Place", key="f_place", placeholder="Lisbon, Portugal or PT", persist_state="session", help=_PLACE_HELP
    )
    camera = bar.text_input("Camera", key="f_camera", placeholder="e.g. nikon", persist_state="session")
    return build_filters(
        folder=None if folder == _ALL else folder,
        date_from=date_from,
        date_to=date_to,
        has_text=has_text,
        captioner=labels.get(picked),
        place=place or "",
        camera=camera or "",
    )


def highlighted(text: str, spans: tuple[tuple[int, int], ...]) -> str:
    """``text`` as markdown, shown as written, with the matched words in bold.
    Every piece is escaped (``plain``); the spans are whole words of letters
    and digits, so the bold markers cannot pair with anything in the text."""
    out: list[str] = []
    done = 0
    for start, end in spans:
        out.append(_nav.plain(text[done:start]) + "**" + _nav.plain(text[start:end]) + "**")
        done = end
    out.append(_nav.plain(text[done:]))
    return "".join(out)


def _results(view: ResultsView, columns: int, services: Services) -> None:
    if view.state is ResultState.EMPTY_QUERY:
        searchable = services.store.status(failure_limit=0).searchable
        if searchable:
            st.caption(f"{searchable} photos indexed. Type a description and press Enter.")
        else:
            st.info(
                "The index has no captioned photos yet. Index a folder on the Status page.",
                icon=":material/folder_open:",
            )
        return
    if view.state is ResultState.NO_RESULTS:
        st.warning(
            "No photos match. Try other words, or loosen the filters in the sidebar.", icon=":material/search_off:"
        )
        return
    with st.container(key="results-summary"):
        st.caption(_nav.plain(view.summary()))
    with st.container(key="results-grid"):
        for start in range(0, view.count, columns):
            row = st.columns(columns)
            # Not strict: the last row may hold fewer cards than it has columns.
            for offset, (col, card) in enumerate(zip(row, view.cards[start : start + columns], strict=False)):
                # height="stretch": each card fills its column, so a row's cards are
                # equally tall however long their captions are.
                with col.container(border=True, height="stretch"):
                    if card.thumbnail:
                        st.image(card.thumbnail, width="stretch", alt=f"{card.name}: {card.caption}")
                    else:
                        st.markdown(f"*{CHANGED_SINCE_INDEXED}*")
                    edited = " :material/edit_note:" if card.human else ""
                    st.markdown(f"{highlighted(card.caption, card.highlights)}{edited}")
                    copies = f" · {len(card.copies) + 1} copies" if card.copies else ""
                    weak = " · weak match" if card.weak else ""
                    why = f" · {_nav.plain(card.reason)}" if card.reason else ""
                    st.caption(f"{_nav.plain(card.name)} · score {card.score:.2f}{why}{weak}{copies}")
                    st.button(
                        "Details",
                        key=f"open-{start + offset}",
                        on_click=_nav.open_image,
                        args=(card.path,),
                        width="stretch",
                    )
    if view.has_more:
        st.button("Show more", key="more", on_click=_show_more, icon=":material/expand_more:")
