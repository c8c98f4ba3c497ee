"""The Streamlit web UI. Not built yet: see the project's UI issue."""
