"""The rooms' import rule (DESIGN.md): store/ imports nothing above it, and
indexer/ and search/ never import ui/ or the composition root."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support.paths import REPO

# room folder -> packages of picscribe it must never import
_FORBIDDEN = {
    "store": (
        "picscribe.indexer",
        "picscribe.search",
        "picscribe.ui",
        "picscribe.cli",
        "picscribe.app",
        "picscribe.config",
        "picscribe.evaluation",
    ),
    "indexer": ("picscribe.ui", "picscribe.cli", "picscribe.app", "picscribe.config", "picscribe.evaluation"),
    "search": (
        "picscribe.ui",
        "picscribe.indexer",
        "picscribe.cli",
        "picscribe.app",
        "picscribe.config",
        "picscribe.evaluation",
    ),
    # The UI builds through picscribe.library like any Python user; the CLI is only what starts it.
    "ui": ("picscribe.cli", "picscribe.evaluation"),
}


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("room", sorted(_FORBIDDEN))
def test_a_room_imports_nothing_it_must_not(room: str) -> None:
    crossing = [
        f"{py.relative_to(REPO)}: {name}"
        for py in sorted((REPO / room).rglob("*.py"))
        for name in _imports(py)
        if name == "picscribe"
        or any(name == f or name.startswith(f + ".") for f in _FORBIDDEN[room])
        # the rooms' old top-level names would be a crossing too, and no longer import at all
        or name.split(".")[0] in {"store", "indexer", "search", "ui"}
    ]
    assert crossing == []
