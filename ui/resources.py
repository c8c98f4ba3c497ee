"""Objects built once per UI server and shared by every session (st.cache_resource).

One ``Library`` per server, from the same settings the CLI would use: the
store, the FAISS index inside it, the query embedder and every captioner
are built through it, once. A query never reloads a model.
"""

from __future__ import annotations

import streamlit as st

from picscribe.indexer import Captioner
from picscribe.library import Library

from .services import Services, index_exists
from .settings import UiSettings


def settings() -> UiSettings:
    return UiSettings.from_env()


@st.cache_resource(show_spinner=False)
def library(settings: UiSettings) -> Library:
    """Cheap to make: it loads nothing until asked."""
    return Library(settings.config)


@st.cache_resource(show_spinner="Loading the index and the search model…")
def _services(settings: UiSettings, exists: bool) -> Services | None:
    if not exists:
        return None
    services = Services.open(settings, library(settings))
    # Load the query model now, not on the first search.
    services.retriever.embedder.embed(["warm-up"])
    return services


def services(settings: UiSettings) -> Services | None:
    """None until an index exists (the pages then say how to make one)."""
    return _services(settings, index_exists(settings))


def captioner(settings: UiSettings, spec: str | None = None) -> Captioner:
    """The backend ``spec`` names (default: the configured one), with every
    configured option; the Library builds each once and keeps it."""
    with st.spinner("Loading the captioner…"):
        return library(settings).captioner(spec)
