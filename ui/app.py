"""picscribe's web UI: ``picscribe ui`` runs this with ``streamlit run``.

Routing only; each page renders itself from ui/views/.
"""

from __future__ import annotations

import streamlit as st

from picscribe.ui import resources
from picscribe.ui.views import detail_page, duplicates_page, search_page, status_page
from picscribe.ui.views._nav import current_image, current_view

st.set_page_config(page_title="picscribe", page_icon="🖼️", layout="wide")

settings = resources.settings()
services = resources.services(settings)

image = current_image()
if image is not None:
    detail_page.render(services, settings, image)
elif current_view() == "status":
    status_page.render(services, settings)
elif current_view() == "duplicates":
    duplicates_page.render(services, settings)
else:
    search_page.render(services, settings)
