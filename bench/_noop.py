"""No-op re-index: `picscribe index` over N unchanged small JPEGs, already
indexed with the fake captioner. The baseline is the bare minimum any
re-index must do: walk the folder and stat every file.

The images and the indexed home are built once and cached; building them
embeds N captions with MiniLM (minutes at 10k on 2 cores).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import _vectors
from ._table import Row


def _cli(home: Path, *args: str) -> float:
    env = {**os.environ, "PICSCRIBE_HOME": str(home)}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "picscribe", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def prepared(n: int, log=print) -> tuple[Path, Path]:
    root = _vectors.cache_dir() / f"noop-{n}"
    images, home, done = root / "images", root / "home", root / "complete"
    if done.exists():
        return images, home
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = images / f"{i // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:05d}.jpg", quality=70)
    started = time.perf_counter()
    _cli(home, "index", str(images), "--captioner", "fake")
    log(f"indexed {n} synthetic JPEGs with the fake captioner in {time.perf_counter() - started:.0f} s (cached)")
    done.touch()
    return images, home


def _walk_and_stat(folder: Path) -> float:
    started = time.perf_counter()
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            os.stat(os.path.join(dirpath, name))
    return time.perf_counter() - started


def run(n: int, log=print) -> list[Row]:
    images, home = prepared(n, log)
    floor = min(_walk_and_stat(images) for _ in range(3))
    cli = min(_cli(home, "index", str(images), "--captioner", "fake") for _ in range(2))
    startup = min(_cli(home, "status") for _ in range(2))
    return [
        Row(
            "no-op re-index",
            f"`picscribe index` over {n} unchanged files",
            cli,
            "s",
            "walk+stat only",
            floor,
            "<= 2 s" if n >= 10_000 else "",
            (cli <= 2) if n >= 10_000 else None,
            f"`picscribe status` process alone {startup:.2f} s; best of 2",
        ),
    ]
