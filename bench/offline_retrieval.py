"""Search quality of the offline captioner on everyday photos (issue 18).

Usage:
    .venv/bin/python -m bench.offline_retrieval [--limit N] [--out FILE.json] [EVAL_DIR ...]

Runs the real path, ``picscribe eval --mode all --captioner offline --json``,
once per evaluation folder (default: ../shared/eval/flickr-dev and
../shared/eval/coco-dev), each in its own process, and prints one table:
R@1/5/10 and median rank of retrieval (index the photos, query with each
human caption), caption quality of the short caption (CIDEr-D, noun
precision) and seconds of captioning per photo. ``--out`` also saves the
raw ``eval`` JSON of every folder.

Numbers under load are slower, never different: on a shared machine, read
the seconds per photo next to ``uptime``.

Measured for issue 18 (2026-12-01), through ``eval``'s real index-then-search
path, with the models' findings recorded once and replayed (the same
captioner, indexer, embedder and hybrid search; coco-dev "before" equals the
issue's own figures, R@1 0.54 and R@10 0.83):

    set         change                                  R@1    R@5    R@10
    flickr-dev  before: short caption + OCR embedded    0.101  0.273  0.398
    flickr-dev  after: the description embedded         0.129  0.325  0.439
    coco-dev    before                                  0.538  0.798  0.833
    coco-dev    after                                   0.600  0.835  0.900

What each part added, dense side only, ties broken at random (flickr-dev
R@10): short caption 0.314; the existing detailed description 0.407; colour
of each thing from its box 0.411; grass or snow underfoot 0.423; "by the
water" 0.427. The short caption is unchanged: coco-dev CIDEr-D 58.12 and noun
precision 0.899 before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

_SHARED_EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"
DEFAULT_SETS = (_SHARED_EVAL / "flickr-dev", _SHARED_EVAL / "coco-dev")


def run_eval(folder: Path, limit: int | None) -> dict[str, object]:
    """``picscribe eval`` on ``folder`` in a fresh process, as a user runs it; its JSON."""
    cmd = [sys.executable, "-m", "picscribe", "eval", "--mode", "all", "--captioner", "offline", "--json"]
    if limit:
        cmd += ["--limit", str(limit)]
    done = subprocess.run([*cmd, str(folder)], capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):  # 1: some photos failed, the rest are scored
        raise SystemExit(f"picscribe eval failed on {folder} ({done.returncode}):\n{done.stderr}")
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _num(value: object) -> str:
    """A precision, or "-" where it is undefined (no photo of the set has object annotations)."""
    return "-" if value is None else f"{float(str(value)):.3f}"


def table(results: dict[str, dict[str, object]]) -> str:
    lines = [
        "set        | photos | R@1   | R@5   | R@10  | med rank | CIDEr-D | noun prec | s/photo",
        "-----------|--------|-------|-------|-------|----------|---------|-----------|--------",
    ]
    for name, result in results.items():
        retrieval = result["retrieval"]
        captions = result["captions"]
        assert isinstance(retrieval, dict) and isinstance(captions, dict)
        nouns = captions["noun_precision"]
        assert isinstance(nouns, dict)
        lines.append(
            f"{name:<10} | {retrieval['images']:>6} | {retrieval['r_at_1']:.3f} | {retrieval['r_at_5']:.3f} | "
            f"{retrieval['r_at_10']:.3f} | {retrieval['median_rank']:>8g} | {captions['cider_d']:>7.2f} | "
            f"{_num(nouns['precision']):>9} | {captions['seconds_per_image']:.3f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", type=Path, default=list(DEFAULT_SETS))
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos of each set")
    parser.add_argument("--out", type=Path, default=None, help="save every set's eval JSON here")
    args = parser.parse_args()
    results: dict[str, dict[str, object]] = {}
    started = time.perf_counter()
    for folder in args.folders:
        results[folder.name] = run_eval(folder, args.limit)
    print(table(results))
    model = next(iter(results.values()))["retrieval"]
    assert isinstance(model, dict)
    load = os.getloadavg()[0]
    print(f"\nmodel {model['model']}; {time.perf_counter() - started:.0f} s in all; load average {load:.2f}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
