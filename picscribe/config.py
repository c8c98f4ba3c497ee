"""Settings: defaults, then ``$PICSCRIBE_HOME/config.toml``, then environment, then flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

import platformdirs

from picscribe.indexer.decode import DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE
from picscribe.indexer.decode_budget import DEFAULT_DECODE_MEMORY
from picscribe.indexer.watch import DEFAULT_IGNORE
from picscribe.search.embedder import DEFAULT_EMBEDDER

CONFIG_FILE = "config.toml"


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Config:
    home: Path
    captioner: str = "auto"
    #: The VLM backend spec ``auto`` tries first. Plain "vlm" means the
    #: default model for the device (Qwen2-VL-2B on CUDA, Florence-2-base on
    #: CPU); "vlm:ORG/NAME" or "vlm:/a/local/dir" picks one; "" turns it off.
    vlm: str | None = "vlm"
    device: str = "auto"
    batch_size: int = 8
    #: Images per generate() call inside a VLM: a number, or "auto" to start
    #: high and halve on CUDA out-of-memory.
    vlm_batch_size: str = "auto"
    #: Cap on generated tokens per answer; None uses each task's default.
    vlm_max_new_tokens: int | None = None
    #: Run model code from the hub (original InternVL2 / microsoft Florence-2
    #: repos need it). Off unless the user opts in: it executes downloaded code.
    trust_remote_code: bool = False
    #: API backends: requests in flight at once, and seconds before one is abandoned.
    api_concurrency: int = 4
    api_timeout: float = 120.0
    #: Budgets for one run of an API backend; the run stops cleanly when one
    #: is spent (None: no limit). Tokens are input + output as the provider reports them.
    max_requests: int | None = None
    max_tokens: int | None = None
    workers: int = max(1, min(4, os.cpu_count() or 1))
    embedder: str = DEFAULT_EMBEDDER
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_side: int = DEFAULT_MAX_SIDE
    #: Megabytes of decoded pixels the decode workers may hold at once.
    decode_memory_mb: int = DEFAULT_DECODE_MEMORY >> 20
    #: ``watch``: glob patterns for names it leaves alone (matched below each root).
    watch_ignore: tuple[str, ...] = DEFAULT_IGNORE
    #: ``watch``: seconds a file must stay unchanged before it is read.
    watch_debounce: float = 1.0
    #: ``watch``: seconds between rescans that catch missed events (0: only at start).
    watch_reconcile_every: float = 600.0
    #: More library roots for the UI to serve and index inside, on top of the
    #: folders ``index`` and ``watch`` recorded in the index.
    roots: tuple[str, ...] = ()

    @property
    def cache_dir(self) -> Path:
        return Path(os.environ.get("PICSCRIBE_CACHE") or platformdirs.user_cache_dir("picscribe"))


_ENV = {
    "captioner": "PICSCRIBE_CAPTIONER",
    "vlm": "PICSCRIBE_VLM",
    "device": "PICSCRIBE_DEVICE",
    "embedder": "PICSCRIBE_EMBEDDER",
    "vlm_batch_size": "PICSCRIBE_VLM_BATCH_SIZE",
}


def default_home() -> Path:
    return Path(os.environ.get("PICSCRIBE_HOME") or platformdirs.user_data_dir("picscribe"))


def load_config(home: Path | None = None, **overrides: object) -> Config:
    """Build the effective config. ``overrides`` with value None are ignored."""
    home = (home or default_home()).expanduser().absolute()
    cfg = Config(home=home)
    file_values = _read_file(home / CONFIG_FILE)
    known = {f.name for f in fields(Config)} - {"home"}
    unknown = set(file_values) - known
    if unknown:
        raise ConfigError(f"{home / CONFIG_FILE}: unknown settings {sorted(unknown)}; known: {sorted(known)}")
    cfg = replace(cfg, **file_values)
    # Set but empty counts for PICSCRIBE_VLM: it is how a user turns the VLM off.
    env_values = {k: os.environ[v] for k, v in _ENV.items() if os.environ.get(v) or (k == "vlm" and v in os.environ)}
    cfg = replace(cfg, **env_values)
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    cfg = replace(cfg, roots=_roots(cfg.roots, home))
    if cfg.batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, not {cfg.batch_size}")
    if cfg.decode_memory_mb < 1:
        raise ConfigError(f"decode_memory_mb must be at least 1, not {cfg.decode_memory_mb}")
    return cfg


def _roots(value: object, home: Path) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(r, str) and r for r in value):
        raise ConfigError(f"{home / CONFIG_FILE}: roots must be a list of folder paths, not {value!r}")
    return tuple(os.path.abspath(os.path.expanduser(r)) for r in value)


def _read_file(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
