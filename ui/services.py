"""The long-lived objects one UI server shares between sessions."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from picscribe.library import Library
from picscribe.search import Retriever
from picscribe.store import Store

from .filters import folder_choices
from .pictures import PREVIEW_EDGE
from .results import Results
from .safe_paths import resolved_roots, servable
from .settings import UiSettings
from .thumbnails import ThumbnailCache

_PATHS_TTL_S = 5.0


def index_exists(settings: UiSettings) -> bool:
    return Library(settings.config).exists()


@dataclass
class Services:
    settings: UiSettings
    #: What the store, retriever, captioners and indexers are built from, with every setting of config.toml.
    library: Library
    store: Store
    retriever: Retriever
    thumbnails: ThumbnailCache
    #: The detail page's picture: a bigger copy, made once like a thumbnail.
    previews: ThumbnailCache
    _paths_generation: int = field(default=-1, repr=False)
    _paths_read_at: float = field(default=0.0, repr=False)
    _paths: frozenset[str] = field(default=frozenset(), repr=False)
    _roots: tuple[str, ...] = field(default=(), repr=False)
    _folders: list[str] = field(default_factory=list, repr=False)

    @classmethod
    def open(cls, settings: UiSettings, library: Library | None = None, *, create: bool = False) -> Services:
        """Over ``library`` (the server's shared one), or a new one from ``settings``."""
        library = library or Library(settings.config)
        store = library.open_index(create=create)
        thumbs = ThumbnailCache(settings.cache_dir / "thumbnails")
        previews = ThumbnailCache(settings.cache_dir / "previews", edge=PREVIEW_EDGE)
        # The retriever embeds queries with the model that built the index.
        return cls(settings, library, store, library.retriever, thumbs, previews)

    @property
    def results(self) -> Results:
        return Results(self.retriever, self.thumbnails, self.servable)

    def close(self) -> None:
        self.library.close()

    def _refresh_paths(self) -> None:
        # Every change to what search finds bumps the generation; a move that
        # changes nothing else does not, so the list also expires by age.
        generation = int(self.store.meta("generation") or 0)
        now = time.monotonic()
        if generation != self._paths_generation or now - self._paths_read_at > _PATHS_TTL_S:
            paths = self.store.ok_paths()
            library = (*self.store.library_roots(), *self.settings.roots)
            self._paths, self._roots = frozenset(paths), resolved_roots(library)
            self._folders = folder_choices(paths, [r for r in library if os.path.isdir(r)])
            self._paths_generation, self._paths_read_at = generation, now

    def roots(self) -> tuple[str, ...]:
        """The library's roots, resolved through symlinks: the UI serves and indexes only inside them."""
        self._refresh_paths()
        return self._roots

    def forget_paths(self) -> None:
        """Read the paths and roots again on next use (after this session changed them)."""
        self._paths_generation = -1

    def folders(self) -> list[str]:
        """Every folder holding an indexed image, and the roots: the folder filter's choices."""
        self._refresh_paths()
        return self._folders

    def servable(self, requested: object) -> str | None:
        """``requested`` if it is an indexed image the UI may show, else None."""
        self._refresh_paths()
        return servable(requested, self._roots, self._paths)
