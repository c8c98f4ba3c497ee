"""What a failure depended on, as a short key stored with the failed row.

A file that failed is skipped on later runs while it is unchanged, but only
while the thing that failed it is unchanged too: a failure by one captioner
is not a verdict for another, and "cannot read HEIC" stops being true once
pillow-heif is installed. A later run compares the stored key with its own
and tries the file again when they differ.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util

import PIL


def captioner_key(name: str, model_id: str) -> str:
    """The key of a failure by this captioner (and model)."""
    return f"captioner:{name}:{model_id}"


def decoder_key() -> str:
    """The key of a failure to read or decode a file: the decoders this
    process has. Computed per run, not cached, so a long-running watcher sees
    an extra installed under it once it is importable."""
    importlib.invalidate_caches()  # an install since the last look is in a folder listing cached then
    heif = _version("pillow_heif", "pillow-heif") or "absent"
    raw = _version("rawpy", "rawpy") or "absent"
    return f"decoder:Pillow {PIL.__version__}; pillow-heif {heif}; rawpy {raw}"


def _version(module: str, distribution: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "present"
