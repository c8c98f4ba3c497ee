"""Objects built once per UI server and shared by every session (st.cache_resource).

The store, the FAISS index inside it and the query embedder load here, once:
a query never reloads a model.
"""

from __future__ import annotations

import streamlit as st

from picscribe.indexer import Captioner, choose

from .services import Services, index_exists
from .settings import UiSettings


def settings() -> UiSettings:
    return UiSettings.from_env()


@st.cache_resource(show_spinner="Loading the index and the search model…")
def _services(settings: UiSettings, exists: bool) -> Services | None:
    if not exists:
        return None
    services = Services.open(settings)
    # Load the query model now, not on the first search.
    services.retriever.embedder.embed(["warm-up"])
    return services


def services(settings: UiSettings) -> Services | None:
    """None until an index exists (the pages then say how to make one)."""
    return _services(settings, index_exists(settings))


@st.cache_resource(show_spinner="Loading the captioner…")
def captioner(spec: str, vlm: str | None, device: str) -> Captioner:
    return choose(spec, vlm=vlm, device=device).captioner
