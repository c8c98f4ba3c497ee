"""Where the weights are, which device and dtype they run at, and the one loaded copy per process.

Resolution happens in the captioner's constructor and never downloads
weights: a local directory is used as is; a hub id is used from the standard
Hugging Face cache when it is there, and is otherwise only accepted when the
hub is reachable (its config.json is fetched to learn the model family). The
weights themselves load lazily, once per (model, device, dtype), on first use.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ...captioning import CaptionerUnavailable

if TYPE_CHECKING:
    import torch

T = TypeVar("T")

DEVICES = ("auto", "cpu", "cuda")

_WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
_WEIGHT_FILES = ("*.safetensors", "*.bin")
# Bytes read from each end of every weight file for the local-dir fingerprint:
# the head holds the safetensors header (names, shapes, dtypes), the tail real
# values, so a fine-tune of the same architecture gets a different id without
# hashing gigabytes.
_FINGERPRINT_BYTES = 1 << 20


def hub_offline() -> bool:
    """HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE, read now (huggingface_hub reads them once, at import)."""
    from huggingface_hub import constants

    def truthy(name: str) -> bool:
        return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}

    return bool(constants.HF_HUB_OFFLINE) or truthy("HF_HUB_OFFLINE") or truthy("TRANSFORMERS_OFFLINE")


def hub_unreachable_reason(timeout: float = 3.0) -> str | None:
    """Why the hub cannot be reached, checked with one quick TCP connect; None if it can (or a proxy is set).

    huggingface_hub retries a failing request for about 25 seconds; a machine
    without network should fall back to the offline captioner at once.
    """
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None  # only the proxy knows; let huggingface_hub try
    url = urlparse(constants.ENDPOINT)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"{host}:{port} is unreachable ({exc})"
    return None


def _hub_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


@dataclass(frozen=True)
class ResolvedModel:
    """A model that can be loaded: a complete local directory, or a hub repo at a known revision."""

    #: What the user asked for ("Qwen/Qwen2-VL-2B-Instruct", "/models/florence").
    requested: str
    #: The parsed config.json.
    config: dict[str, Any]
    #: Identifies the weights; recorded on every caption.
    model_id: str
    #: Local directory holding everything from_pretrained needs, when there is one.
    path: Path | None = None
    #: Hub repo and commit to load from when the files are not all local yet.
    repo_id: str | None = None
    revision: str | None = None

    @property
    def source(self) -> str:
        """What to hand to from_pretrained."""
        return str(self.path) if self.path is not None else str(self.repo_id)

    @property
    def from_pretrained_kwargs(self) -> dict[str, Any]:
        return {} if self.path is not None else {"revision": self.revision}


def _looks_like_path(spec: str) -> bool:
    return (
        spec.startswith(("/", "./", "../", "~", "\\"))
        or spec.count("/") > 1
        or "\\" in spec
        or (len(spec) > 1 and spec[1] == ":")  # C:\models
    )


def missing_files(directory: Path) -> list[str]:
    """What a model directory lacks for from_pretrained: config.json, and weights (all shards of an index)."""
    missing = []
    if not (directory / "config.json").is_file():
        missing.append("config.json")
    for index_name in _WEIGHT_INDEXES:
        index = directory / index_name
        if index.is_file():
            shards = set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values())
            missing += sorted(s for s in shards if not (directory / s).is_file())
            return missing
    if not any(any(directory.glob(pattern)) for pattern in _WEIGHT_FILES):
        missing.append("weights (*.safetensors or *.bin)")
    return missing


def _read_config(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "config.json").read_text(encoding="utf-8"))


def local_fingerprint(directory: Path) -> str:
    """A short hash of config.json, the weights index and the weight files' size, head and tail."""
    digest = hashlib.sha256()
    digest.update((directory / "config.json").read_bytes())
    for index_name in _WEIGHT_INDEXES:
        if (directory / index_name).is_file():
            digest.update((directory / index_name).read_bytes())
    weights = sorted({p for pattern in _WEIGHT_FILES for p in directory.glob(pattern)})
    for path in weights:
        size = path.stat().st_size
        digest.update(f"{path.name}\0{size}\0".encode())
        with path.open("rb") as f:
            digest.update(f.read(_FINGERPRINT_BYTES))
            if size > 2 * _FINGERPRINT_BYTES:
                f.seek(-_FINGERPRINT_BYTES, os.SEEK_END)
                digest.update(f.read(_FINGERPRINT_BYTES))
    return digest.hexdigest()[:12]


def _how_to_get(repo_id: str) -> str:
    return (
        f"download it where the hub is reachable with `huggingface-cli download {repo_id}` "
        f"(or `hf download {repo_id}`) into the Hugging Face cache ({_hub_cache_dir()}), "
        f"or pass a local model directory, e.g. --captioner vlm:/path/to/model"
    )


def _resolve_local(spec: str) -> ResolvedModel:
    directory = Path(spec).expanduser().resolve()
    if not directory.is_dir():
        raise CaptionerUnavailable(f"VLM model directory {spec!r} does not exist")
    missing = missing_files(directory)
    if missing:
        raise CaptionerUnavailable(
            f"VLM model directory {str(directory)!r} is incomplete: missing {', '.join(missing)}; "
            "it should hold what save_pretrained (or `huggingface-cli download --local-dir`) writes"
        )
    return ResolvedModel(
        requested=spec,
        config=_read_config(directory),
        model_id=f"local:{directory.name}@{local_fingerprint(directory)}",
        path=directory,
    )


def _resolve_hub(spec: str) -> ResolvedModel:
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.utils import validate_repo_id

    repo_id, _, pinned = spec.partition("@")
    revision = pinned or None
    validate_repo_id(repo_id)  # HFValidationError is a ValueError: a bad spec, not a missing model

    cached = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    if isinstance(cached, str):
        snapshot = Path(cached).parent
        commit = snapshot.name
        if not missing_files(snapshot):
            return ResolvedModel(
                requested=spec,
                config=_read_config(snapshot),
                model_id=f"hf:{repo_id}@{commit[:12]}",
                path=snapshot,
                repo_id=repo_id,
                revision=commit,
            )
        if hub_offline():
            raise CaptionerUnavailable(
                f"VLM model {repo_id!r} is only partly downloaded ({', '.join(missing_files(snapshot))} missing) "
                f"and the hub is offline (HF_HUB_OFFLINE); {_how_to_get(repo_id)}"
            )
    elif hub_offline():
        raise CaptionerUnavailable(
            f"VLM model {repo_id!r} is not in the Hugging Face cache and the hub is offline (HF_HUB_OFFLINE); "
            f"{_how_to_get(repo_id)}"
        )
    unreachable = hub_unreachable_reason()
    if unreachable:
        raise CaptionerUnavailable(
            f"VLM model {repo_id!r} is not in the Hugging Face cache and the hub cannot be reached "
            f"({unreachable}); {_how_to_get(repo_id)}"
        )
    try:
        # Only the small config: the weights download on first use, not here.
        config_path = Path(hf_hub_download(repo_id, "config.json", revision=revision))
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - network, auth, missing repo: all mean "not usable here"
        raise CaptionerUnavailable(
            f"VLM model {repo_id!r} is not cached and could not be fetched from the hub "
            f"({type(exc).__name__}: {exc}); {_how_to_get(repo_id)}"
        ) from exc
    commit = config_path.parent.name
    return ResolvedModel(
        requested=spec,
        config=json.loads(config_path.read_text(encoding="utf-8")),
        model_id=f"hf:{repo_id}@{commit[:12]}",
        repo_id=repo_id,
        revision=commit,
    )


def resolve_model(spec: str) -> ResolvedModel:
    """A local directory, or a hub id (optionally ``org/name@revision``).

    Raises CaptionerUnavailable, naming the model and how to get it, when
    the weights are neither local nor fetchable.
    """
    spec = spec.strip()
    if not spec:
        raise ValueError("empty VLM model name")
    if Path(spec).expanduser().is_dir() or _looks_like_path(spec):
        return _resolve_local(spec)
    return _resolve_hub(spec)


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when a GPU is usable, else 'cpu'. 'cuda:N' picks a GPU."""
    import torch

    device = (device or "auto").strip().lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        if not torch.cuda.is_available():
            raise CaptionerUnavailable(
                f"device {device!r} was asked for but torch sees no CUDA GPU "
                f"(torch {torch.__version__}; a CPU-only build, or no driver); use --device cpu or auto"
            )
        return device
    raise ValueError(f"device must be one of {', '.join(DEVICES)} (or cuda:N), not {device!r}")


def pick_dtype(device: str) -> torch.dtype:
    """bf16 on GPUs that have it, else fp16 on GPU; fp32 on CPU (half precision is slow or unsupported there)."""
    import torch

    if device.startswith("cuda"):
        with torch.cuda.device(torch.device(device)):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


# One copy of each model per process: captioners are cheap objects, weights are not.
_cache_lock = threading.Lock()
_loaded: dict[tuple[str, str, str], Any] = {}
#: How many times a model was actually loaded (not served from the cache); tests read it.
load_count = 0


def cached_load(key: tuple[str, str, str], load: Callable[[], T]) -> T:
    """``load()`` once per key (model source, device, dtype) for the whole process."""
    global load_count
    with _cache_lock:
        if key not in _loaded:
            _loaded[key] = load()
            load_count += 1
        return _loaded[key]


def clear_cache() -> None:
    """Forget every loaded model (frees memory once nothing else holds them)."""
    with _cache_lock:
        _loaded.clear()
