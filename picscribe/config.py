"""Settings: defaults, then ``$PICSCRIBE_HOME/config.toml``, then environment, then flags."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import UnionType
from typing import Any, get_args, get_origin, get_type_hints

import platformdirs

from picscribe.indexer.decode_budget import DEFAULT_DECODE_MEMORY
from picscribe.indexer.decode_limits import DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE
from picscribe.indexer.watch import DEFAULT_IGNORE
from picscribe.search._default_embedder import DEFAULT_EMBEDDER

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
    path = home / CONFIG_FILE
    cfg = apply_settings(Config(home=home), _read_file(path), source=str(path))
    # Set but empty counts for PICSCRIBE_VLM: it is how a user turns the VLM off.
    for key, var in _ENV.items():
        if os.environ.get(var) or (key == "vlm" and var in os.environ):
            cfg = apply_settings(cfg, {key: os.environ[var]}, source=f"${var}")
    return apply_settings(cfg, overrides, source="settings")


def apply_settings(cfg: Config, values: Mapping[str, object], *, source: str) -> Config:
    """``cfg`` with ``values`` on top, each checked against its field's type.

    config.toml, the environment and callers hand in plain objects; checking
    them here means a wrong type fails at once with the key and where it came
    from (``source``: the file, the variable), not later deep in a backend.
    A value of None keeps the current one.
    """
    unknown = set(values) - set(_SETTABLE)
    if unknown:
        raise ConfigError(f"{source}: unknown settings {sorted(unknown)}; known: {sorted(_SETTABLE)}")
    checked: dict[str, Any] = {key: _check(key, value, source) for key, value in values.items() if value is not None}
    return replace(cfg, **checked)


def _check(key: str, value: object, source: str) -> object:
    if key == "roots":
        return _roots(value, source)
    if key == "vlm_batch_size":
        return _vlm_batch_size(value, source)
    if key == "device":
        return _device(value, source)
    hint = _SETTABLE[key]
    for kind in _kinds(hint):
        converted = _as(kind, value)
        if converted is not _WRONG:
            if key in _AT_LEAST_ONE and isinstance(converted, int) and converted < 1:
                raise ConfigError(f"{source}: {key} must be at least 1, not {converted}")
            if key in _NOT_NEGATIVE and isinstance(converted, float) and not converted >= 0:
                raise ConfigError(f"{source}: {key} must be 0 or more seconds, not {converted}")
            if key in _POSITIVE and isinstance(converted, float) and not converted > 0:
                raise ConfigError(f"{source}: {key} must be more than 0 seconds, not {converted}")
            return converted
    raise ConfigError(f"{source}: {key} must be {_describe(hint)}, not {value!r}")


def _device(value: object, source: str) -> str:
    # "gpu" or "cuda0" would otherwise reach a backend that quietly runs on the CPU.
    text = value.strip().lower() if isinstance(value, str) else ""
    if text in ("auto", "cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise ConfigError(f"{source}: device must be auto, cpu, cuda or cuda:N, not {value!r}")


#: Returned by ``_as`` when the value is not of the kind asked for (None is a valid value).
_WRONG = object()


def _as(kind: object, value: object) -> object:
    # bool is an int subclass, and TOML keeps them apart: `batch_size = true` is a mistake.
    if kind is bool:
        return value if isinstance(value, bool) else _WRONG
    if kind is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _WRONG
    if kind is float:
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _WRONG
    if kind is str:
        return value if isinstance(value, str) else _WRONG
    if get_origin(kind) is tuple and get_args(kind) == (str, ...):
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
        return _WRONG
    if kind is type(None):
        return None if value is None else _WRONG
    raise TypeError(f"config: no check for settings of type {kind!r}")


def _kinds(hint: object) -> tuple[object, ...]:
    """``int | None`` -> (int, NoneType); any other hint stands alone."""
    return get_args(hint) if isinstance(hint, UnionType) else (hint,)


def _describe(hint: object) -> str:
    names: dict[object, str] = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return " or ".join(names.get(k, "a list of strings") for k in _kinds(hint) if k is not type(None))


def _vlm_batch_size(value: object, source: str) -> str:
    # The same values --batch-size takes: a positive integer (TOML may write it bare) or "auto".
    text = str(value).strip().lower() if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if text == "auto" or (text.isdigit() and int(text) >= 1):
        return text
    raise ConfigError(f'{source}: vlm_batch_size must be a positive integer or "auto", not {value!r}')


def _roots(value: object, source: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(r, str) and r for r in value):
        raise ConfigError(f"{source}: roots must be a list of folder paths, not {value!r}")
    return tuple(os.path.abspath(os.path.expanduser(r)) for r in value)


def _read_file(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


#: Every setting but ``home`` (which says where config.toml is), with its declared type.
_SETTABLE: dict[str, object] = {k: v for k, v in get_type_hints(Config).items() if k != "home"}
#: Counts of things, where 0 would stall or divide by zero rather than mean "none".
_AT_LEAST_ONE = frozenset(
    {
        "batch_size",
        "decode_memory_mb",
        "workers",
        "api_concurrency",
        "max_pixels",
        "max_side",
        "max_requests",
        "max_tokens",
        "vlm_max_new_tokens",
    }
)
#: Seconds where 0 means "at once" or "never", but a negative number means nothing.
_NOT_NEGATIVE = frozenset({"watch_debounce", "watch_reconcile_every"})
#: Seconds where 0 would fail every request at once.
_POSITIVE = frozenset({"api_timeout"})
