"""What a user's `pip install picscribe` puts in site-packages: one name, picscribe."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from support.paths import REPO

# What a wheel is built from; the samples and tests stay out of it anyway.
_SOURCES = ("pyproject.toml", "README.md", "LICENSE", "picscribe", "indexer", "search", "store", "ui")


def _build_wheel(tmp_path: Path) -> Path:
    # From a copy: setuptools writes build/ and *.egg-info next to the sources.
    src = tmp_path / "src"
    src.mkdir()
    for name in _SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, src / name)
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = out.glob("picscribe-*.whl")
    return wheel


def test_the_wheel_installs_one_top_level_name(tmp_path: Path) -> None:
    with zipfile.ZipFile(_build_wheel(tmp_path)) as whl:
        names = whl.namelist()
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert whl.read(top_level).decode().split() == ["picscribe"]
        code = [n for n in names if ".dist-info/" not in n]
        assert code and all(n.startswith("picscribe/") for n in code), sorted({n.split("/")[0] for n in code})
        # Every folder of the card is in it, data files included.
        for module in (
            "store/_store.py",
            "indexer/pipeline.py",
            "search/retriever.py",
            "ui/app.py",
            "ui/views/search_page.py",
            "indexer/captioners/offline/centernet_coco.npz",
        ):
            assert f"picscribe/{module}" in names, module
        assert "picscribe/py.typed" in names  # type checkers use the public API's hints
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        parser = configparser.ConfigParser()
        parser.read_string(whl.read(entry_points).decode())
        targets = [v for section in parser.sections() for v in parser[section].values()]
        assert targets and all(t.startswith("picscribe.") for t in targets), targets


def test_the_card_folders_are_not_importable_on_their_own(tmp_path: Path) -> None:
    # Run outside the repository, where a user's Python runs: only the
    # installed names count, not folders that happen to be in the cwd.
    code = (
        "import importlib.util, picscribe.store, picscribe.indexer, picscribe.search, picscribe.ui\n"
        "print([n for n in ('store', 'indexer', 'search', 'ui') if importlib.util.find_spec(n)])"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
