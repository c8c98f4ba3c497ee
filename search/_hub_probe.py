"""Whether a hub embedder can load here, checked in well under a second.

huggingface_hub retries a failing request for about a minute and warns on
each try; a model that is not cached on a machine without network should be
one clear error at once. The VLM loader probes the same way.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse


def _repo_ids(name: str) -> list[str]:
    # sentence-transformers also finds "all-mpnet-base-v2" under its own organisation.
    return [name] if "/" in name else [name, f"sentence-transformers/{name}"]


def _cached(repo_ids: list[str]) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo, "config.json"), str) for repo in repo_ids)


def _endpoint() -> tuple[str, int]:
    from huggingface_hub import constants

    url = urlparse(os.environ.get("HF_ENDPOINT") or constants.ENDPOINT)
    return url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)


def hub_model_unreachable(name: str, timeout: float = 3.0) -> str | None:
    """Why the hub model ``name`` cannot load: it is not cached and the hub is
    unreachable. None when it may load (a local folder, cached, the hub up,
    a proxy only it can judge, or offline mode, which fails fast by itself)."""
    if os.path.isdir(os.path.expanduser(name)):
        return None
    if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
        return None
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    repos = _repo_ids(name)
    if _cached(repos):
        return None
    host, port = _endpoint()
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return (
            f"it is not in the Hugging Face cache and the hub cannot be reached ({host}:{port}: {exc}); "
            f"download it where the hub is reachable with `hf download {repos[-1]}`, "
            "or set embedder to a local folder"
        )
    return None
