"""PEP 562 lazy exports for a package's ``__init__``: a name is imported from
its module on first use, so ``import picscribe.store`` (and a cold ``search``
or ``status``) pays only for what it touches.

A leaf with no imports of picscribe, so every room may use it: it is not a room
and knows none of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str, namespace: dict[str, Any], exports: Mapping[str, str], public: Iterable[str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose globals are ``namespace``:
    ``exports`` maps each name to its module (relative to ``package`` when it
    starts with a dot); ``public`` is the package's ``__all__``."""
    names = tuple(public)

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
