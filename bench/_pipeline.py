"""Pipeline efficiency: images/s of the indexer (scan, hash, decode on the
thread pool, caption, embed, write) divided by images/s of its slowest model
stage called directly in a loop on the same images, already decoded.

The images are the sample COCO photos, copied with a distinct trailing byte
so every copy is new content (JPEG decoders ignore bytes after the end
marker). The one-time model loads are excluded from both sides: they are
what the cold-start rows measure.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from ._table import Row

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "data" / "samples" / "images"


def _images(folder: Path, n: int) -> list[Path]:
    sources = sorted(SAMPLES.glob("*.jpg"))
    out = []
    for i in range(n):
        src = sources[i % len(sources)]
        dst = folder / f"{i:05d}-{src.name}"
        dst.write_bytes(src.read_bytes() + i.to_bytes(4, "little"))
        out.append(dst)
    return out


def run(n: int, captioner: str) -> list[Row]:
    from PIL import Image

    from picscribe.app import embedder_for, indexer_for
    from picscribe.config import load_config
    from picscribe.indexer import choose
    from picscribe.indexer.captioning import TASK_CAPTION
    from picscribe.indexer.decode import load
    from picscribe.indexer.scan import FileEntry
    from picscribe.store import Store

    work = Path(tempfile.mkdtemp(prefix="picscribe-bench-pipeline-"))
    try:
        folder = work / "images"
        folder.mkdir()
        paths = _images(folder, n)
        home = work / "home"
        cfg = load_config(home, captioner=captioner)
        choice = choose(cfg.captioner)
        cap = choice.captioner
        emb = embedder_for(cfg)

        def decode(p: Path) -> Image.Image:
            entry = FileEntry(str(p), p.stat().st_size, p.stat().st_mtime_ns)
            image = load(entry, set(), max_pixels=cfg.max_pixels, max_side=cfg.max_side).image
            assert image is not None, "no hash is known, so every file is decoded"
            return image

        decoded = [decode(p) for p in paths]
        # Warm both models, so neither side pays the load.
        emb.embed([r.text for r in cap.caption(decoded[:1], TASK_CAPTION)])
        batch = cfg.batch_size
        started = time.perf_counter()
        texts = []
        for i in range(0, n, batch):
            texts += [r.text for r in cap.caption(decoded[i : i + batch], TASK_CAPTION)]
        caption_s = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(0, n, batch):
            emb.embed(texts[i : i + batch])
        embed_s = time.perf_counter() - started
        slowest_name, slowest_s = max((("caption", caption_s), ("embed", embed_s)), key=lambda x: x[1])

        with Store.open(home) as store:
            report = indexer_for(cfg, store, choice).index([folder])
        pipeline_rate = report.captioned / report.seconds
        stage_rate = n / slowest_s
        ratio = pipeline_rate / stage_rate
        return [
            Row(
                "pipeline",
                f"`index` images/s ({choice.captioner.name}, {n} images, batch {batch})",
                pipeline_rate,
                "img/s",
                f"{slowest_name} stage alone",
                stage_rate,
                ">= 0.90 of stage",
                ratio >= 0.90,
                f"caption {n / caption_s:.1f} img/s, embed {n / embed_s:.0f} img/s",
            ),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
