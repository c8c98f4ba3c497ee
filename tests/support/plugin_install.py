"""Install tests/example_plugin the way pip would leave a plugin package: a
module, and a dist-info whose entry_points.txt registers it with picscribe."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parent / "example_plugin" / "picscribe_shout.py"


def install_shout_plugin(site: Path, monkeypatch: pytest.MonkeyPatch) -> type:
    """Put the plugin in ``site`` (a fresh folder) on sys.path; the ShoutCaptioner class, its ``made`` list empty."""
    dist_info = site / "picscribe_shout-1.0.dist-info"
    dist_info.mkdir(parents=True)
    shutil.copy2(PLUGIN, site / PLUGIN.name)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: picscribe-shout\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[picscribe.captioners]\nshout = picscribe_shout:ShoutCaptioner\n")
    monkeypatch.syspath_prepend(str(site))  # also invalidates the import caches
    monkeypatch.delitem(sys.modules, "picscribe_shout", raising=False)
    import picscribe_shout  # type: ignore[import-not-found]

    monkeypatch.setattr(picscribe_shout.ShoutCaptioner, "made", [])
    return picscribe_shout.ShoutCaptioner
