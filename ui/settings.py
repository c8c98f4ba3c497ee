"""What the UI needs to know, read from the environment ``picscribe ui`` sets.

The UI does not import the CLI's config: the composition root resolves the
settings (flags, config.toml, environment) and hands them over as variables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from search import DEFAULT_EMBEDDER


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
        )
