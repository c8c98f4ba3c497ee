"""Status: what the index holds, the watcher, and a button to index a folder."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from picscribe.store import StoreError
from picscribe.ui import resources
from picscribe.ui.indexing import CountingProgress, captioner_choices, index_folder, may_index, summary
from picscribe.ui.safe_paths import resolved_roots
from picscribe.ui.services import Services
from picscribe.ui.settings import UiSettings
from picscribe.ui.status_view import status_view

from . import _nav
from ._empty import no_index


def render(services: Services | None, settings: UiSettings) -> None:
    _nav.sidebar(_nav.STATUS)
    st.title("Index status")
    # A placeholder, so the first index made below can take the "No index yet" banner away.
    banner = st.empty()
    if services is None:
        with banner.container():
            no_index(settings)
    else:
        _counts(services, settings)
    if _index_form(services, settings) and services is None:
        banner.empty()


def _counts(services: Services, settings: UiSettings) -> None:
    view = status_view(services.store, settings.home)
    st_ = view.status
    a, b, c = st.columns(3)
    a.metric("Images", st_.images)
    b.metric("Captioned", view.captioned)
    c.metric("Failed", st_.failed)
    st.caption(f"Index: {_nav.plain(st_.home)} · embedder {st_.embedder or 'none yet'}")
    if view.by_model:
        st.markdown("**Captions searched, by model**")
        st.table([{"captioner": m.captioner, "model": m.model, "images": m.count} for m in view.by_model])
    st.markdown(f"**{_nav.plain(view.watcher.text)}**")
    if view.watcher.roots:
        st.caption("watching " + ", ".join(_nav.plain(r) for r in view.watcher.roots))
    if view.watcher.last_error:
        st.warning(f"watcher error: {view.watcher.last_error}")
    if st_.failures:
        with st.expander(f"Failed files ({st_.failed})", expanded=st_.failed <= 10):
            st.table([{"file": p, "error": e} for p, e in st_.failures])


def _index_form(services: Services | None, settings: UiSettings) -> bool:
    """The form; True once it has indexed something in this run."""
    st.subheader("Index a folder")
    choices = captioner_choices(settings.captioner)
    with st.form("index"):
        folder = st.text_input("Folder", key="index-folder", placeholder="/home/me/Pictures")
        spec = st.selectbox("Captioner", choices, key="index-captioner")
        retry = st.checkbox("Try failed files again", key="index-retry")
        left, right = st.columns(2)
        start = left.form_submit_button("Index folder", type="primary")
        recaption = right.form_submit_button(
            "Re-index all with this captioner",
            disabled=services is None,
            help="Caption every indexed photo with this captioner; search switches over once all have one.",
        )
    if not (start or recaption):
        return False
    path = Path(folder or "").expanduser().absolute()
    if start and (not folder or not path.is_dir()):
        st.error(f"{_nav.plain(folder or 'Nothing')} is not a folder.")
        return False
    if spec not in choices:
        st.error("Pick a captioner from the list.")
        return False
    roots = services.roots() if services is not None else resolved_roots(settings.roots)
    if start and not may_index(path, roots, anywhere=settings.allow_index_anywhere):
        # Indexing a folder makes its photos servable: a browser must not widen that.
        st.error(
            f"{_nav.plain(str(path))} is outside the library, so it is not indexed from here. "
            "Add it with `picscribe index FOLDER` (or `roots` in config.toml), "
            "or start the UI with `picscribe ui --allow-index-anywhere`."
        )
        return False
    bar = st.progress(0.0, text="Looking for photos…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"{done} of {total} photos")

    # One Library per server: its store becomes the shared one, its captioner is kept for the next click.
    library = resources.library(settings)
    target = services or Services.open(settings, library, create=True)
    try:
        captioner = resources.captioner(settings, spec)
        indexer = library.indexer(captioner, retry_failed=retry)  # batch size, workers, pixel limits: config.toml
        if recaption:
            with st.spinner(f"Captioning every photo with {captioner.name}…"):
                recaptioned = indexer.reindex(progress=CountingProgress(progress))
            bar.progress(1.0, text="Done")
            done = "search now uses it" if recaptioned.complete else "not complete: search keeps the old captions"
            st.success(f"{recaptioned.captioned} captioned, {len(recaptioned.failures)} failed; {done}.")
            return True
        # Inside the roots already (a config root the index has not recorded yet),
        # or allowed anywhere: either way the folder is now the library's.
        target.store.add_library_roots([str(path)])
        target.forget_paths()
        report = index_folder(indexer, path, progress)
    except (StoreError, RuntimeError, ValueError) as exc:
        st.error(f"Indexing failed: {exc}")
        return False
    bar.progress(1.0, text=f"Done: {report.scanned} photos")
    (st.warning if report.stopped else st.success)(summary(report))
    return True
