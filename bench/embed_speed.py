"""Captions embedded per second: numpy (what indexing and search use) against
sentence-transformers, on the same texts, in one run.

Usage: ``OMP_NUM_THREADS=1 .venv/bin/python -m bench.embed_speed [--json] [--texts N]``

The texts are caption-length: each sample photo's five human captions
joined into one text (about 60 tokens, as long as the offline captioner's
description with its tags), repeated up to N. Each backend embeds them all
once after a warm-up; numpy runs at several batch sizes (padded tokens per
batch), and sentence-transformers' import and model load is timed on its
own, in a fresh process, since an index run pays it once.

Measured on the 2-core dev machine, quiet (load average 0.9 to 1.0, 03:21
UTC, 2026-12-02), after grouping texts by exact length (no padding) and the
in-place GELU: sentence-transformers 34.9 captions/s, and 8.3 s to import and
load it; numpy 30.4/s at 4,096 tokens a batch, 33.8/s at 1,024, 33.5/s at 512
(the default), 30.7/s at 256. Lowest cosine between the two: 0.9999999. So
numpy costs about 1 ms more per caption (4 %), and sentence-transformers'
start costs as much as embedding some 8,000 captions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ._table import Row, render, to_json

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples" / "captions.jsonl"
BATCH_TOKENS = (4096, 1024, 512, 256)

_LOAD_SENTENCE_TRANSFORMERS = """
import sys, time
from pathlib import Path
started = time.perf_counter()
from picscribe.search import SentenceTransformerEmbedder
SentenceTransformerEmbedder(cache_dir=Path(sys.argv[1])).embed(["warm-up"])
print(time.perf_counter() - started)
"""


def texts(n: int) -> list[str]:
    rows = [json.loads(line) for line in SAMPLES.read_text().splitlines() if line.strip()]
    joined = [" ".join(row["captions"]) for row in rows]
    return (joined * (n // len(joined) + 1))[:n]


def _rate(embed: object, items: list[str]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    vectors = embed(items)  # type: ignore[operator]
    return len(items) / (time.perf_counter() - started), vectors


def rows(n: int = 400) -> list[Row]:
    from picscribe.config import load_config
    from picscribe.search import SentenceEmbedder, SentenceTransformerEmbedder

    cache = load_config().cache_dir / "models"
    items = texts(n)
    numpy_side = SentenceEmbedder(cache_dir=cache)
    encoder = numpy_side._numpy_encoder()
    assert encoder is not None, "the bundled model should take the numpy path"
    torch_side = SentenceTransformerEmbedder(cache_dir=cache)
    load_s = float(
        subprocess.run(
            [sys.executable, "-c", _LOAD_SENTENCE_TRANSFORMERS, str(cache)], check=True, capture_output=True, text=True
        ).stdout.split()[-1]
    )
    torch_side.embed(items[:8])
    encoder.encode(items[:8])
    torch_rate, reference = _rate(torch_side.embed, items)
    out = [
        Row("embed", "sentence-transformers captions/s", torch_rate, "/s"),
        Row("embed", "sentence-transformers import + load", load_s, "s", note="once per index run"),
    ]
    for tokens in BATCH_TOKENS:
        rate, vectors = _rate(lambda batch, t=tokens: encoder.encode(batch, max_batch_tokens=t), items)
        cosine = float((vectors * reference).sum(axis=1).min())
        out.append(
            Row(
                "embed",
                f"numpy captions/s, {tokens} tokens a batch",
                rate,
                "/s",
                baseline="sentence-transformers captions/s",
                baseline_value=torch_rate,
                note=f"lowest cosine {cosine:.7f}",
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.embed_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--texts", type=int, default=400)
    args = parser.parse_args()
    found = rows(args.texts)
    print(to_json(found) if args.json else render(found))


if __name__ == "__main__":
    main()
