"""What the UI needs to know, read from the environment ``picscribe ui`` sets.

The UI does not import the CLI's config: the composition root resolves the
settings (flags, config.toml, environment) and hands them over as variables.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from picscribe.search import DEFAULT_EMBEDDER

#: Set by ``picscribe ui``: a JSON list of absolute paths.
ROOTS_ENV = "PICSCRIBE_ROOTS"
#: Set by ``picscribe ui``: "1" only with ``--allow-index-anywhere``.
ALLOW_INDEX_ANYWHERE_ENV = "PICSCRIBE_UI_ALLOW_INDEX_ANYWHERE"


@dataclass(frozen=True)
class UiSettings:
    home: Path
    cache_dir: Path
    #: Used only before the index has bound one; then the index's own wins.
    embedder: str = DEFAULT_EMBEDDER
    #: For "Ask a question" and the index button.
    captioner: str = "auto"
    vlm: str | None = "vlm"
    device: str = "auto"
    #: Library roots from config.toml, on top of those the index recorded.
    roots: tuple[str, ...] = ()
    #: ``picscribe ui --allow-index-anywhere``: the Index form may add any
    #: folder to the library (and so make it servable), not just one inside it.
    allow_index_anywhere: bool = False

    @classmethod
    def from_env(cls) -> UiSettings:
        env = os.environ
        home = Path(env.get("PICSCRIBE_HOME") or platformdirs.user_data_dir("picscribe"))
        cache = Path(env.get("PICSCRIBE_CACHE") or platformdirs.user_cache_dir("picscribe"))
        return cls(
            home=home.expanduser().absolute(),
            cache_dir=cache.expanduser().absolute(),
            embedder=env.get("PICSCRIBE_EMBEDDER") or DEFAULT_EMBEDDER,
            captioner=env.get("PICSCRIBE_CAPTIONER") or "auto",
            vlm=env["PICSCRIBE_VLM"] if "PICSCRIBE_VLM" in env else "vlm",
            device=env.get("PICSCRIBE_DEVICE") or "auto",
            roots=_roots(env.get(ROOTS_ENV)),
            allow_index_anywhere=env.get(ALLOW_INDEX_ANYWHERE_ENV) == "1",
        )


def _roots(value: str | None) -> tuple[str, ...]:
    try:
        roots = json.loads(value or "[]")
    except ValueError:
        return ()
    if not isinstance(roots, list):
        return ()
    return tuple(r for r in roots if isinstance(r, str) and os.path.isabs(r))
