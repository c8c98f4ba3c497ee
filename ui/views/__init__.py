"""The UI's pages, one per file; each has ``render(...)``.

Not named pages/: Streamlit would list a pages/ folder beside app.py as
extra pages of its own.
"""
