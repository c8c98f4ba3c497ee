"""Where the offline captioner's time goes, stage by stage, and its rate through `picscribe index`.

Usage: ``OMP_NUM_THREADS=1 .venv/bin/python -m bench.offline_stages [--json]``

The same 52 photos every time: the 26 sample photos and the first 26 of
``../shared/eval/flickr-dev`` (sorted by name), or the samples twice when the
eval set is not there. Each photo is decoded as the indexer decodes it, then
each model stage runs over all of them in the indexer's batches, timed on its
own, after one warm-up image (model loads are the cold-start rows' business).
OCR is split into RapidOCR's own steps: text detection, the angle
classifier and recognition. Last, ``picscribe index --captioner offline``
runs in a subprocess on a copy of the photos in a fresh home: its img/s is
the report's (``captioned / seconds``), and the process's wall time, imports
and model loads included, is given beside it. Every figure is taken twice
in one run: "before" with ``PICSCRIBE_OFFLINE_THREADS=1`` (the models one
after another, each on every core, as the captioner ran until issue 20) and
"after" with the default (``_stages``: as many at once as there are cores,
one core each); the results of both are compared, photo by photo.

Measured on the 2-core dev machine, mostly shared with other engineers' jobs
(the figures are ratios for that reason):

- before only, load average 3.1 to 3.2 (23:49 UTC, 2026-12-01): classifier
  0.040 s/photo, open_nsfw 0.087, CenterNet 0.318, MTCNN 0.124, colours
  0.006, OCR 0.893 (text detection 0.610, angle classifier 0.014,
  recognition 0.263); caption() 1.285 s/photo; ``picscribe index`` 0.79 img/s.
- before / after in one run, load average 8.9 to 14.7 (00:25 to 00:42 UTC,
  2026-12-02; that run also kept ONNX Runtime's memory arena for OCR, since
  dropped: below): classifier 0.118 / 0.104 s/photo, open_nsfw 0.227 / 0.129,
  CenterNet 0.764 / 0.491, MTCNN 0.366 / 0.234, OCR 2.178 / 1.193 (text
  detection 1.612 / 0.875, recognition 0.522 / 0.297), caption() 3.580 /
  2.529 s/photo; ``picscribe index`` 0.235 / 0.301 img/s (x1.28); results
  identical on all 52 photos.
- final code, before / after in one run, load average 8.5 falling to 5.7
  (00:52 to 01:05 UTC): classifier 0.080 / 0.057, open_nsfw 0.158 / 0.074,
  CenterNet 0.518 / 0.281, MTCNN 0.262 / 0.162, OCR 2.000 / 0.862,
  caption() 3.018 / 1.555 s/photo; ``picscribe index`` 0.318 / 0.686 img/s
  (x2.16, flattered by the falling load); results identical on all 52.
- final code, ``picscribe index`` only, the one quiet moment (load average
  1.3 to 1.7, 01:07 UTC, QUIET set): 0.91 img/s before, 1.28 after (x1.40).
  The goal, 2 img/s, is not reached.
- CPU time, the figure load does not inflate (16 of the photos, load average
  about 10, final code): caption() 1.52 CPU-s/photo before, 1.06 after
  (wall 4.54 / 3.20 s/photo); results identical. At 1.06 CPU-s/photo two
  free cores caption at most ~1.9 photos/s: OCR text detection alone is
  ~0.38 CPU-s/photo (RapidOCR scales the shorter side up to 736 px).
- quiet machine, load average 1.4 to 2.2 (03:23 to 03:27 UTC, 2026-12-02),
  after captions moved to the numpy embedder (no sentence-transformers
  import in an index run), before / after: classifier 0.036 / 0.041 s/photo,
  open_nsfw 0.032 / 0.046, CenterNet 0.236 / 0.209, MTCNN 0.099 / 0.108,
  colours 0.006 / 0.006, OCR 0.427 / 0.459 (text detection 0.305 / 0.358,
  angle classifier 0.008 / 0.005, recognition 0.112 / 0.093); caption()
  0.796 / 0.473 s/photo (2.1 photos/s for the models' work); ``picscribe
  index`` 1.115 / 1.506 img/s; results identical on all 52. The index run's
  start (CLI imports 0.7 to 1.6 s, torch 1.8 s, the models 1.1 s) and its
  one-core embedding between batches (2.8 s over the 52) are what keep it
  under 2 img/s here; over 150 flickr-dev photos it made 1.9 to 2.0 img/s.

Tried and not kept: a low-resolution text-detection gate before OCR (on the
406 photos of coco-dev, flickr-dev and the samples, 79 of which OCR reads
text in today, a 480 px pass would skip 303 of the 327 without text but lose
43 of the 79; 256 px loses 70); ONNX Runtime's memory arena for OCR (text
detection 17 % less CPU, but 1.89 GB peak RSS over 24 flickr photos against
1.44 GB without); CenterNet exported to ONNX (0.19 -> 0.125 CPU-s/photo, but
it needs the ``onnx`` package to export, ships an 8 MB file and moves heat-map
scores by up to 4e-6, so findings would no longer be identical).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._table import Row

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "data" / "samples" / "images"
FLICKR = REPO.parent / "shared" / "eval" / "flickr-dev" / "images"
PHOTOS = 52
BATCH = 8
THREADS_ENV = "PICSCRIBE_OFFLINE_THREADS"


def photos(n: int = PHOTOS) -> list[Path]:
    """The profiled photos: samples first, then flickr-dev (or the samples again)."""
    samples = sorted(SAMPLES.glob("*.jpg"))
    extra = sorted(FLICKR.glob("*.jpg"))[: n - len(samples)] if FLICKR.is_dir() else []
    chosen = samples + extra
    while len(chosen) < n:
        chosen += samples[: n - len(chosen)]
    return chosen[:n]


def _decode(paths: Sequence[Path]) -> list[Any]:
    from picscribe.indexer.decode import DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE, load
    from picscribe.indexer.scan import FileEntry

    out = []
    for p in paths:
        st = p.stat()
        image = load(
            FileEntry(str(p), st.st_size, st.st_mtime_ns),
            set(),
            max_pixels=DEFAULT_MAX_PIXELS,
            max_side=DEFAULT_MAX_SIDE,
        ).image
        assert image is not None, p
        out.append(image)
    return out


def _timed(fn: Callable[[Any], object], items: Sequence[Any]) -> float:
    """Seconds ``fn`` took over all of ``items``, one call each."""
    total = 0.0
    for item in items:
        started = time.perf_counter()
        fn(item)
        total += time.perf_counter() - started
    return total


def stage_seconds(images: Sequence[Any], threads: int, results: list[dict[str, Any]] | None = None) -> dict[str, float]:
    """Seconds per photo of each stage, and of the whole caption call, over ``images``.

    ``threads`` is the captioner's setting (``_stages``): 1 is the models in
    turn, each on every core, as before; more is that many at once, one core
    each. The stages are timed one after another either way, so a stage's
    figure is what it costs; "caption() whole" is what the batch took.
    ``results``, when given, receives each photo's full result (text, description,
    tags, objects, OCR text, extra): what a change meant to be faster only must not move."""
    from rapidocr_onnxruntime.ch_ppocr_cls import TextClassifier
    from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
    from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer

    from picscribe.indexer.captioners.offline import OfflineCaptioner
    from picscribe.indexer.captioners.offline._colours import dominant_colours
    from picscribe.indexer.captioners.offline._models import PackagedModels, Sessions

    models = PackagedModels(sessions=Sessions(threads))
    captioner = OfflineCaptioner(models=models)
    captioner.threads = threads
    captioner.caption(images[:1])  # loads every model once
    parts = {
        TextDetector: "ocr: text detection",
        TextClassifier: "ocr: angle classifier",
        TextRecognizer: "ocr: recognition",
    }
    ocr_parts = dict.fromkeys(parts.values(), 0.0)

    def clocked(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                ocr_parts[name] += time.perf_counter() - started

        return run

    originals = {cls: cls.__call__ for cls in parts}
    batches = [images[i : i + BATCH] for i in range(0, len(images), BATCH)]
    seconds: dict[str, float] = {
        "classifier (EfficientNet)": _timed(models.classify, batches),
        "nsfw (open_nsfw)": _timed(models.nsfw, batches),
        "detector (CenterNet)": _timed(lambda b: models.detect(b, 0.3), batches),
        "faces (MTCNN)": _timed(models.faces, images),
        "colours": _timed(dominant_colours, images),
    }
    try:
        for cls, name in parts.items():
            cls.__call__ = clocked(name, originals[cls])
        seconds["ocr (RapidOCR)"] = _timed(models.read_text, images)
    finally:
        for cls, original in originals.items():
            cls.__call__ = original
    seconds.update(ocr_parts)
    whole = 0.0
    for batch in batches:
        started = time.perf_counter()
        captioned = captioner.caption(batch)
        whole += time.perf_counter() - started
        if results is not None:
            results += [dataclasses.asdict(r) for r in captioned]
    seconds["caption() whole"] = whole
    return {k: v / len(images) for k, v in seconds.items()}


def index_rate(paths: Sequence[Path], threads: int) -> dict[str, float]:
    """img/s of ``picscribe index --captioner offline`` on copies of ``paths`` in a fresh home,
    with ``PICSCRIBE_OFFLINE_THREADS=threads``."""
    work = Path(tempfile.mkdtemp(prefix="picscribe-offline-stages-"))
    try:
        folder = work / "images"
        folder.mkdir()
        for i, p in enumerate(paths):
            # A distinct trailing byte: every copy is new content even when a photo repeats.
            (folder / f"{i:03d}-{p.name}").write_bytes(p.read_bytes() + i.to_bytes(4, "little"))
        env = {**os.environ, "PICSCRIBE_HOME": str(work / "home"), THREADS_ENV: str(threads)}
        cmd = [sys.executable, "-m", "picscribe", "index", str(folder), "--captioner", "offline", "--json"]
        started = time.perf_counter()
        proc = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
        wall = time.perf_counter() - started
        report = json.loads(proc.stdout)
        return {
            "`index` img/s (its report)": report["captioned"] / report["seconds"],
            "`index` img/s (process wall)": len(paths) / wall,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(index: bool = True, dump: Path | None = None, n: int = PHOTOS) -> dict[str, tuple[float, float]]:
    """(before, after) for each figure: the models in turn (``PICSCRIBE_OFFLINE_THREADS=1``)
    and at once (the default), on the same decoded photos, in one run."""
    from picscribe.indexer.captioners.offline._stages import stage_threads

    paths = photos(n)
    images = _decode(paths)
    threads = stage_threads()
    runs: dict[str, dict[str, float]] = {}
    captions: dict[str, list[dict[str, Any]]] = {}
    for name, n in (("before", 1), ("after", threads)):
        captions[name] = []
        runs[name] = stage_seconds(images, n, captions[name])
        if index:
            runs[name].update(index_rate(paths, n))
    if dump is not None:
        named = {
            name: {f"{i:02d}-{p.name}": c for i, (p, c) in enumerate(zip(paths, found, strict=True))}
            for name, found in captions.items()
        }
        dump.write_text(json.dumps(named, indent=1, sort_keys=True, default=str))
    same = captions["before"] == captions["after"]
    out = {k: (runs["before"][k], runs["after"][k]) for k in runs["before"]}
    out[f"results identical ({len(paths)} photos)"] = (1.0, 1.0 if same else 0.0)
    return out


def rows(n: int = PHOTOS) -> list[Row]:
    """The figures as ``python -m bench`` rows: after, with before as the baseline."""
    result = measure(n=n)
    out = []
    for name, (before, after) in result.items():
        if "identical" in name:
            out.append(Row("offline", name, after, "yes=1", goal="1", met=after == 1.0))
            continue
        rate = "img/s" in name
        goal = ">= 2 img/s" if name.startswith("`index`") and "report" in name else ""
        out.append(
            Row(
                "offline",
                f"{name}, {n} photos" if rate else f"{name}, s/photo",
                after,
                "img/s" if rate else "s",
                f"before ({THREADS_ENV}=1)",
                before,
                goal,
                after >= 2.0 if goal else None,
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.offline_stages", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-index", action="store_true", help="stages only, not the `picscribe index` runs")
    parser.add_argument("--dump", type=Path, help="write every photo's results, before and after, here (JSON)")
    args = parser.parse_args()
    result = measure(index=not args.no_index, dump=args.dump)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{'':34s} {'before':>8s} {'after':>8s} {'after/before':>12s}")
    for name, (before, after) in result.items():
        unit = "" if "img/s" in name or "identical" in name else " s/photo"
        ratio = after / before if before else float("nan")
        print(f"{name:34s} {before:8.3f} {after:8.3f} {ratio:12.2f}{unit}")


if __name__ == "__main__":
    main()
