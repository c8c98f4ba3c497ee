"""One photo: the full image, every caption, EXIF, find similar, ask, edit the caption."""

from __future__ import annotations

import streamlit as st

from picscribe.store import StoreError
from picscribe.ui import resources
from picscribe.ui.asking import ask
from picscribe.ui.detail import DetailView, detail_view, tag_chips
from picscribe.ui.editing import save_human_caption
from picscribe.ui.pictures import CHANGED_SINCE_INDEXED, picture
from picscribe.ui.services import Services
from picscribe.ui.settings import UiSettings

from . import _nav
from ._empty import no_index


def render(services: Services | None, settings: UiSettings, requested: str) -> None:
    _nav.sidebar(_nav.SEARCH)
    st.button("← Back to results", on_click=_nav.go, args=(_nav.SEARCH,))
    if services is None:
        no_index(settings)
        return
    path = services.servable(requested)
    view = detail_view(services.store, path) if path else None
    if view is None:
        # Same answer for "not indexed", "outside the roots" and "no such file":
        # a probe learns nothing about the disk.
        st.error("This image is not in the index.", icon=":material/block:")
        return
    st.title(_nav.plain(view.name))
    st.caption(_nav.plain(view.folder))
    left, right = st.columns([3, 2], gap="large")
    with left:
        # Never the file itself: Streamlit would decode it here, and a file
        # changed since indexing would put a traceback with server paths on the page.
        shown = picture(services.previews, view.path)
        if shown is None:
            st.warning(CHANGED_SINCE_INDEXED, icon=":material/broken_image:")
        else:
            st.image(str(shown), width="stretch", alt=view.alt_text)
    with right:
        _captions(view, services)
        _facts(view)
        st.button(
            "Find similar",
            on_click=_nav.find_similar,
            args=(view.path,),
            width="stretch",
            key="similar",
            icon=":material/image_search:",
        )
        _ask(view, settings)


def _captions(view: DetailView, services: Services) -> None:
    st.subheader("Caption")
    st.markdown(_nav.plain(view.caption) if view.caption else "*No caption yet.*")
    if view.caption_is_human:
        st.caption(":material/edit_note: Written by a person: re-indexing never replaces it.")
    with st.form("edit-caption", border=False):
        text = st.text_area("Edit the caption", value=view.caption, key="edit-text", height=90)
        if st.form_submit_button("Save caption"):
            try:
                save_human_caption(services.store, services.retriever.embedder, view.path, text, view.ocr_text)
            except StoreError as exc:
                st.error(str(exc))
            else:
                st.session_state["saved"] = view.path
                st.rerun()
    if st.session_state.pop("saved", None) == view.path:
        st.success("Saved as your own caption.", icon=":material/check_circle:")
    st.markdown("**Alt text**")
    st.code(view.alt_text or "—", language=None, wrap_lines=True)
    if view.detailed:
        st.markdown("**Detailed description**")
        st.markdown(_nav.plain(view.detailed))
    with st.expander(f"All captions ({len(view.captions)})"):
        for line in view.captions:
            mark = ":material/star: " if line.current else ""
            st.markdown(f"{mark}**{line.task}** — {_nav.plain(line.text)}")
            st.caption(_nav.plain(line.source))


def _facts(view: DetailView) -> None:
    if view.ocr_text:
        st.markdown("**Text in the photo**")
        st.code(view.ocr_text, language=None, wrap_lines=True)
    if view.tags:
        st.markdown("**Tags** " + tag_chips(view.tags))
    if view.objects:
        st.markdown("**Objects** " + ", ".join(f"{_nav.plain(label)} × {n}" for label, n in view.objects))
    exif = view.exif
    facts = []
    if view.width and view.height:
        facts.append(f"{view.width} × {view.height} px, {view.size / 1e6:.1f} MB")
    if exif.taken:
        facts.append(f"Taken {exif.taken}")
    if exif.camera:
        facts.append(f"Camera: {_nav.plain(exif.camera)}")
    if exif.lens:
        facts.append(f"Lens: {_nav.plain(exif.lens)}")
    if exif.exposure:
        facts.append(exif.exposure)
    if view.place and exif.place:
        facts.append(f"Place: [{_nav.plain(view.place)}]({exif.map_url}) ({exif.place}; names: GeoNames, CC BY 4.0)")
    elif view.place:
        facts.append(f"Place: {_nav.plain(view.place)} (GeoNames, CC BY 4.0)")
    elif exif.place:
        facts.append(f"Place: [{exif.place}]({exif.map_url})")
    if facts:
        st.markdown("**Photo** · " + " · ".join(facts))


def _ask(view: DetailView, settings: UiSettings) -> None:
    st.subheader("Ask a question")
    with st.form("ask", border=False):
        question = st.text_input("Question about this photo", key="question", placeholder="How many people are there?")
        if not st.form_submit_button("Ask"):
            return
    try:
        captioner = resources.captioner(settings)
    except Exception as exc:  # a backend that cannot load is this question's error
        st.error(f"No captioner to ask: {exc}")
        return
    with st.spinner("Looking…"):
        reply = ask(captioner, view.path, question or "")
    (st.success if reply.answered else st.warning)(reply.text)
    st.caption(f"answered by {captioner.name} ({captioner.model_id}) from {reply.source}")
