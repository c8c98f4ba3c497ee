"""Build the objects a command needs from a Config. The only place that
knows how the rooms fit together."""

from __future__ import annotations

from picscribe.indexer import Captioner, CaptionerOptions, Indexer, IndexOptions, choose
from picscribe.indexer.registry import Choice
from picscribe.search import Retriever, SentenceTransformerEmbedder
from picscribe.store import DB_NAME, Store

from .config import Config


def open_store(cfg: Config, *, create: bool = True, read_only: bool = False) -> Store:
    return Store.open(cfg.home, create=create, read_only=read_only)


def index_exists(cfg: Config) -> bool:
    return (cfg.home / DB_NAME).is_file()


def embedder_for(cfg: Config, store: Store | None = None) -> SentenceTransformerEmbedder:
    """With a store, the model that built it: a query must be embedded by the
    same model as the captions. Without one, the configured model (indexing
    checks it against the store and refuses a different one)."""
    name = (store.embedder_name if store is not None else None) or cfg.embedder
    return SentenceTransformerEmbedder(name, cache_dir=cfg.cache_dir / "models")


def choose_captioner(cfg: Config) -> Choice:
    options = CaptionerOptions(
        batch_size=cfg.vlm_batch_size,
        max_new_tokens=cfg.vlm_max_new_tokens,
        trust_remote_code=cfg.trust_remote_code,
        concurrency=cfg.api_concurrency,
        timeout=cfg.api_timeout,
        max_requests=cfg.max_requests,
        max_tokens=cfg.max_tokens,
    )
    return choose(cfg.captioner, vlm=cfg.vlm or None, device=cfg.device, options=options)


def indexer_for(cfg: Config, store: Store, choice: Choice | Captioner, *, retry_failed: bool = False) -> Indexer:
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
    return Indexer(store, captioner, embedder_for(cfg), options)


def retriever_for(cfg: Config, store: Store) -> Retriever:
    return Retriever(store, embedder_for(cfg, store))
