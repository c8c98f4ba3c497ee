"""Build the objects a command needs from a Config. The only place that
knows how the rooms fit together."""

from __future__ import annotations

from typing import TYPE_CHECKING

from picscribe.indexer import Captioner, CaptionerOptions, choose
from picscribe.indexer.ray_engine import CaptionerRecipe, RayOptions, import_ray
from picscribe.indexer.registry import Choice
from picscribe.search import Retriever, embedder_named
from picscribe.store import DB_NAME, TextEmbedder

from .config import Config, ConfigError

if TYPE_CHECKING:
    from picscribe.indexer import Indexer
    from picscribe.store import SearchSource, SearchView, Store


def open_store(cfg: Config, *, create: bool = True, read_only: bool = False) -> Store:
    # Imported here: a cold search reads through a SearchView and never loads the Store (SQLAlchemy).
    from picscribe.store import Store

    return Store.open(cfg.home, create=create, read_only=read_only)


def open_search_view(cfg: Config) -> SearchView | None:
    """The index opened for search without SQLAlchemy; None where only the Store can serve it."""
    from picscribe.store import SearchView  # numpy and FAISS: not for commands that only count (status)

    return SearchView.open(cfg.home)


def index_exists(cfg: Config) -> bool:
    return (cfg.home / DB_NAME).is_file()


def embedder_for(cfg: Config, store: Store | None = None) -> TextEmbedder:
    """With a store, the model that built it: a query must be embedded by the
    same model as the captions. Without one, the configured model (indexing
    checks it against the store and refuses a different one; ``reembed``
    moves an index to it)."""
    name = (store.embedder_name if store is not None else None) or cfg.embedder
    return embedder_named(name, cache_dir=cfg.cache_dir / "models")


def captioner_options(cfg: Config) -> CaptionerOptions:
    return CaptionerOptions(
        batch_size=cfg.vlm_batch_size,
        max_new_tokens=cfg.vlm_max_new_tokens,
        trust_remote_code=cfg.trust_remote_code,
        concurrency=cfg.api_concurrency,
        timeout=cfg.api_timeout,
        max_requests=cfg.max_requests,
        max_tokens=cfg.max_tokens,
    )


def choose_captioner(cfg: Config) -> Choice:
    check_device(cfg.device)
    return choose(cfg.captioner, vlm=cfg.vlm or None, device=cfg.device, options=captioner_options(cfg))


def check_device(device: str) -> None:
    """Asking for CUDA where there is none is a mistake to say, not a silent CPU run
    (a backend without a GPU path would otherwise just run slower)."""
    if not device.startswith("cuda"):
        return
    import torch  # only here: a CPU run should not pay for importing it

    if not torch.cuda.is_available():
        raise ConfigError(
            f"device {device}: torch sees no CUDA device here (a CPU-only build of torch, or no GPU); "
            "use --device cpu or --device auto"
        )


def indexer_for(
    cfg: Config, store: Store, choice: Choice | Captioner, *, retry_failed: bool = False, ray: RayOptions | None = None
) -> Indexer:
    """The local pipeline; with ``ray``, the same pipeline with its heavy stages on that cluster."""
    # Here, not at the top: search and status build no indexer and need not import the pipeline.
    from picscribe.indexer import Indexer, IndexOptions
    from picscribe.indexer.ray_engine import RayIndexer

    captioner = choice.captioner if isinstance(choice, Choice) else choice
    # A batch must be at least as large as an API backend's concurrency, or
    # the requests it could run side by side would wait for the next batch.
    options = IndexOptions(
        batch_size=max(cfg.batch_size, captioner.max_concurrency),
        workers=cfg.workers,
        max_pixels=cfg.max_pixels,
        max_side=cfg.max_side,
        decode_memory=cfg.decode_memory_mb << 20,
        retry_failed=retry_failed,
    )
    if ray is None:
        return Indexer(store, captioner, embedder_for(cfg), options)
    if not isinstance(choice, Choice) or choice.spec is None:
        raise ValueError("the Ray engine builds the captioner on each worker from its name; give a name, not an object")
    import_ray()  # before any work: without the extra, say how to install it at once
    recipe = CaptionerRecipe(choice.spec, device=cfg.device, options=captioner_options(cfg))
    return RayIndexer(store, captioner, embedder_for(cfg), options, recipe=recipe, ray=ray)


def retriever_for(cfg: Config, store: SearchSource) -> Retriever:
    # Queries through numpy where the model allows: a search imports no torch.
    name = store.embedder_name or cfg.embedder
    return Retriever(store, embedder_named(name, cache_dir=cfg.cache_dir / "models"))
