"""What every page shows before there is an index."""

from __future__ import annotations

import shlex

import streamlit as st

from picscribe.ui.settings import UiSettings


def no_index(settings: UiSettings) -> None:
    st.info(
        f"No index yet in {settings.home}. Index a folder of photos to start searching.", icon=":material/folder_open:"
    )
    home = shlex.quote(str(settings.home))
    st.code(f"picscribe --home {home} index ~/Pictures", language="bash")
    st.caption("…or use the Status page to index a folder from here.")
