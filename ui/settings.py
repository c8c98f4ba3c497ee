"""What the UI runs with: the library's settings, resolved as the CLI resolves them.

``picscribe ui`` hands over only where the index is (``PICSCRIBE_HOME``) and
``--allow-index-anywhere``; the UI then reads ``config.toml`` and the
environment itself through ``load_config``, so every setting the CLI honours
reaches the UI too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from picscribe.config import Config, load_config

#: Set by ``picscribe ui``: "1" only with ``--allow-index-anywhere``. A UI flag,
#: not a setting: config.toml cannot let a browser widen what is served.
ALLOW_INDEX_ANYWHERE_ENV = "PICSCRIBE_UI_ALLOW_INDEX_ANYWHERE"


@dataclass(frozen=True)
class UiSettings:
    config: Config
    #: ``picscribe ui --allow-index-anywhere``: the Index form may add any
    #: folder to the library (and so make it servable), not just one inside it.
    allow_index_anywhere: bool = False

    @classmethod
    def from_env(cls) -> UiSettings:
        return cls(load_config(), allow_index_anywhere=os.environ.get(ALLOW_INDEX_ANYWHERE_ENV) == "1")

    @property
    def home(self) -> Path:
        return self.config.home

    @property
    def cache_dir(self) -> Path:
        return self.config.cache_dir

    @property
    def captioner(self) -> str:
        """The configured captioner: the Index form's first choice, and what "Ask a question" uses."""
        return self.config.captioner

    @property
    def roots(self) -> tuple[str, ...]:
        """Library roots from config.toml, on top of those the index recorded."""
        return self.config.roots
