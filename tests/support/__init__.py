"""Helpers the tests share: paths, the in-process CLI, local API servers, tiny
VLMs, hostile files, the browser driver, the example plugin.

``tests/`` is on pytest's pythonpath (pyproject.toml), so tests import these as
``from support.cli import Run``. Fixtures stay in ``tests/conftest.py``.
"""
