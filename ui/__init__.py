"""The Streamlit web UI (``picscribe ui``).

The Streamlit scripts (``app.py`` and ``views/``) stay thin: what they show
is computed by plain modules here (path safety, thumbnails, view models),
which are tested without a browser.
"""

from pathlib import Path

#: The script ``streamlit run`` starts.
APP_PATH = Path(__file__).with_name("app.py")

__all__ = ["APP_PATH"]
