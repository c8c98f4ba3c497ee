"""Install tests/example_plugin the way pip would leave a plugin package: a
module, and a dist-info whose entry_points.txt registers it with picscribe."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest

if TYPE_CHECKING:
    # The same source file that install_shout_plugin copies and imports as top-level ``picscribe_shout``.
    from support.example_plugin.picscribe_shout import ShoutCaptioner

PLUGIN = Path(__file__).resolve().parent / "example_plugin" / "picscribe_shout.py"


def install_shout_plugin(site: Path, monkeypatch: pytest.MonkeyPatch) -> type[ShoutCaptioner]:
    """Put the plugin in ``site`` (a fresh folder) on sys.path; the ShoutCaptioner class, its ``made`` list empty."""
    dist_info = site / "picscribe_shout-1.0.dist-info"
    dist_info.mkdir(parents=True)
    shutil.copy2(PLUGIN, site / PLUGIN.name)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: picscribe-shout\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[picscribe.captioners]\nshout = picscribe_shout:ShoutCaptioner\n")
    monkeypatch.syspath_prepend(str(site))  # also invalidates the import caches
    monkeypatch.delitem(sys.modules, "picscribe_shout", raising=False)
    # Imported by name from the copy, as picscribe's entry point will: not the module mypy sees.
    shout_class = cast("type[ShoutCaptioner]", importlib.import_module("picscribe_shout").ShoutCaptioner)
    monkeypatch.setattr(shout_class, "made", [])
    return shout_class
