"""Web UI latency: time from pressing Enter in the query box to the result
grid rendered (summary line for that query shown, every thumbnail loaded),
measured in a real headless Chromium against ``picscribe ui``.

Two libraries: the 26 bundled sample photos (captioned from their sidecar
reference captions, which is fast and does not change what is timed), and
N synthetic tiny JPEGs captioned by ``--captioner fake`` (default 10,000).
Each query runs twice: "cold" makes the thumbnails of its hits, "warm"
finds them on disk. "server" is the search + thumbnails time the page
itself reports.

    .venv/bin/python bench/ui_latency.py [--images 10000] [--workdir DIR]

Needs Debian's chromium + chromium-driver and selenium (the dev extra).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from support.ui_browser import browser_missing, chromium, open_search, running_ui, submit_query  # noqa: E402

from picscribe.ui.results import PAGE  # noqa: E402

SAMPLES = REPO / "data" / "samples"
SAMPLE_QUERIES = ["pizza on a plate", "a bus on the road", "a stop sign", "people around a birthday cake", "a cat"]
FAKE_QUERIES = [
    "a picture that is mostly red",
    "a bright square picture",
    "a dark portrait picture that is mostly blue",
    "mostly green",
    "an evenly lit landscape picture",
]


def picscribe(home: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "picscribe", "--home", str(home), *args]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def sample_library(root: Path) -> Path:
    photos = root / "samples"
    if not photos.exists():
        shutil.copytree(SAMPLES / "images", photos)
        for line in (SAMPLES / "captions.jsonl").read_text().splitlines():
            rec = json.loads(line)
            (photos / Path(rec["file"]).name).with_suffix(".txt").write_text(rec["captions"][0])
    return photos


def synthetic_library(root: Path, n: int) -> Path:
    photos = root / f"synthetic-{n}"
    if photos.exists() and sum(1 for _ in photos.rglob("*.jpg")) == n:
        return photos
    rng = np.random.default_rng(7)
    for i in range(n):
        folder = photos / f"{i // 1000:02}"
        folder.mkdir(parents=True, exist_ok=True)
        w, h = rng.choice([(48, 48), (64, 40), (40, 64)])
        base = rng.integers(0, 256, 3)
        pixels = np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:05}.jpg", quality=70)
    return photos


def build(home: Path, photos: Path, captioner: str) -> None:
    if not (home / "index.sqlite").exists():
        picscribe(home, "index", str(photos), "--captioner", captioner)


def measure(home: Path, queries: list[str], workdir: Path) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"cold": [], "warm": [], "server": []}
    with running_ui(home, workdir / f"{home.name}.log") as url, chromium(workdir / f"profile-{home.name}") as driver:
        box = open_search(driver, url)
        for temperature in ("cold", "warm"):
            for query in queries:
                seconds, _ = submit_query(driver, box, query)
                times[temperature].append(seconds)
                summary = driver.execute_script("return document.querySelector('.st-key-results-summary').innerText")
                if temperature == "warm":
                    server_ms = re.search(r"in (\d+) ms", summary)
                    assert server_ms is not None, f"no server time in the results summary: {summary!r}"
                    times["server"].append(float(server_ms.group(1)) / 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000, help="synthetic library size")
    parser.add_argument("--workdir", type=Path, default=None, help="keep photos and indexes here (reused)")
    args = parser.parse_args()
    missing = browser_missing()
    if missing:
        sys.exit(f"ui_latency: {missing}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="picscribe-ui-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PICSCRIBE_CACHE", str(workdir / "cache"))
    os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"

    rows = []
    for label, photos, captioner, queries in [
        ("26 samples", sample_library(workdir), "sidecar", SAMPLE_QUERIES),
        (f"{args.images:,} fake", synthetic_library(workdir, args.images), "fake", FAKE_QUERIES),
    ]:
        home = workdir / f"home-{photos.name}"
        build(home, photos, captioner)
        t = measure(home, queries, workdir)
        rows.append((label, t))

    def ms(values: list[float], fn) -> str:
        return f"{fn(values) * 1000:7.0f}"

    p90 = lambda v: sorted(v)[max(0, int(round(0.9 * len(v))) - 1)]  # noqa: E731
    print(f"submit → grid rendered, ms ({len(FAKE_QUERIES)} queries each, headless Chromium, {PAGE} cards a page)")
    print(f"{'library':<14} {'cold median':>12} {'warm median':>12} {'warm p90':>9} {'server (warm)':>14}")
    for label, t in rows:
        print(
            f"{label:<14} {ms(t['cold'], statistics.median):>12} {ms(t['warm'], statistics.median):>12}"
            f" {ms(t['warm'], p90):>9} {ms(t['server'], statistics.median):>14}"
        )
    print(f"workdir: {workdir}")


if __name__ == "__main__":
    main()
