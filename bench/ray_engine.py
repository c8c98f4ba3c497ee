"""``--engine ray`` against ``--engine local``: images/s on the same photos, in the same run.

Usage: .venv/bin/python bench/ray_engine.py [--fake-images 104] [--offline-images 26] [--workers 1]

Each engine indexes the same folder into a fresh home, through ``Library.index``
(what the CLI runs). The Ray engine joins one local cluster started here with
``ray.init(num_cpus=N)``; its run includes what every real run pays: the job's
start, the actor's captioner and embedder load, and the driver's hashing. The
photos are data/samples re-encoded with one pixel changed, so each is new content.
Machines here are shared and noisy: compare rows of one run, not across runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from PIL import Image

from picscribe import Library, RayOptions

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "data" / "samples" / "images"


def make_photos(folder: Path, count: int) -> Path:
    """``count`` distinct JPEGs: the samples in turn, each with its own marker pixel."""
    folder.mkdir(parents=True)
    sources = sorted(SAMPLES.glob("*.jpg"))
    for i in range(count):
        with Image.open(sources[i % len(sources)]) as img:
            rgb = img.convert("RGB")
        rgb.putpixel((0, 0), (i % 256, (i // 256) % 256, 7))
        rgb.save(folder / f"photo{i:05d}.jpg", quality=90)
    return folder


def run_engine(captioner: str, folder: Path, work: Path, ray: RayOptions | None) -> tuple[float, int]:
    home = work / f"home-{captioner}-{'ray' if ray else 'local'}"
    with Library.open(home, captioner=captioner) as lib:
        started = time.perf_counter()
        report = lib.index([folder], ray=ray)
        seconds = time.perf_counter() - started
    assert report.failed == 0 and report.captioned > 0, report
    return seconds, report.captioned


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fake-images", type=int, default=104)
    parser.add_argument("--offline-images", type=int, default=26)
    parser.add_argument("--workers", type=int, default=1, help="captioner actors")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    args = parser.parse_args()

    import ray

    work = Path(tempfile.mkdtemp(prefix="picscribe-bench-ray-"))
    os.environ.setdefault("PICSCRIBE_CACHE", str(work / "cache"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"load before: {uptime()}")
    ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    rows = []
    try:
        for captioner, count in (("fake", args.fake_images), ("offline", args.offline_images)):
            if count <= 0:
                continue
            folder = make_photos(work / f"photos-{captioner}", count)
            pair = make_photos(work / f"pair-{captioner}", 2)
            # Warm the driver's caches (embedder unzip, offline weights) outside the timings.
            run_engine(captioner, pair, work / "warm", None)
            local_s, n = run_engine(captioner, folder, work, None)
            pool = RayOptions(workers=args.workers)
            ray_s, n_ray = run_engine(captioner, folder, work, pool)
            # Two images: what a Ray run costs before its first image (job start, actor, model loads).
            start_s, _ = run_engine(captioner, pair, work / "pair", pool)
            assert n_ray == n, (n, n_ray)
            rows.append((captioner, n, local_s, ray_s, start_s))
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    print(f"load after:  {uptime()}")
    print(f"ray {ray.__version__}, {args.cpus} CPUs in the cluster, {args.workers} captioner actor(s), 1 CPU each")
    print(
        "overhead/img: (ray s - local s) / images; start: a Ray run of 2 images; "
        "marginal: (ray s - start) / (images - 2), the per-image cost once the job runs"
    )
    header = f"{'captioner':<10}{'images':>7}{'local s':>9}{'local img/s':>12}{'ray s':>8}{'ray img/s':>10}"
    print(header + f"{'ray/local':>10}{'overhead/img':>14}{'start s':>9}{'marginal ms/img':>17}{'local ms/img':>14}")
    for captioner, n, local_s, ray_s, start_s in rows:
        print(
            f"{captioner:<10}{n:>7}{local_s:>9.2f}{n / local_s:>12.2f}{ray_s:>8.2f}{n / ray_s:>10.2f}"
            f"{ray_s / local_s:>10.2f}{(ray_s - local_s) / n * 1000:>11.0f} ms{start_s:>9.2f}"
            f"{(ray_s - start_s) / max(1, n - 2) * 1000:>17.0f}{local_s / n * 1000:>14.0f}"
        )


if __name__ == "__main__":
    main()
