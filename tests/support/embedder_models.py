"""Copies of the bundled embedding model, for tests of which path embeds with it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from picscribe.search.embedder import bundled_model_dir


def bundled_copy(model_cache: Path, target: Path) -> Path:
    """The bundled model's folder at ``target``, with its big files linked, not copied."""
    source = bundled_model_dir(model_cache / "models")
    assert source is not None
    shutil.copytree(source, target, copy_function=lambda s, d: Path(d).symlink_to(s))
    return target


def cls_pooled_copy(model_cache: Path, target: Path) -> Path:
    """The bundled model, pooled by its CLS token: a model the numpy path does not
    reproduce, so only sentence-transformers (and torch) can embed with it."""
    model = bundled_copy(model_cache, target)
    pooling = model / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    pooling.unlink()  # a link to the shared cache: replace it, never write through it
    pooling.write_text(json.dumps({**config, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    return model
