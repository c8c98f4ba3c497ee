"""Build ``indexer/captioners/offline/imagenet_labels.txt`` from a timm wheel.

The offline captioner needs a readable name for each of the 1000 ImageNet-1k
classes. timm (Apache-2.0) ships the class-index -> WordNet synset list and a
synset -> lemma table; this script joins the two so the labels file can be
regenerated and audited instead of being an opaque blob.

Usage::

    pip download --no-deps timm -d /tmp/timmdl
    python scripts/make_imagenet_labels.py /tmp/timmdl/timm-*.whl [OUTPUT]

For each class the first lemma of its synset is kept ("tench, Tinca tinca"
-> "tench") and underscores become spaces.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

SYNSETS = "timm/data/_info/imagenet_synsets.txt"
LEMMAS = "timm/data/_info/imagenet_synset_to_lemma.txt"
NUM_CLASSES = 1000
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "indexer" / "captioners" / "offline" / "imagenet_labels.txt"


def build_labels(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        synsets = zf.read(SYNSETS).decode("utf-8").split()
        lemma_lines = zf.read(LEMMAS).decode("utf-8").splitlines()
    if len(synsets) != NUM_CLASSES:
        raise SystemExit(f"expected {NUM_CLASSES} synsets in {SYNSETS}, found {len(synsets)}")
    # Lines look like "n01440764\ttench, Tinca tinca".
    lemmas = dict(line.split("\t", 1) for line in lemma_lines if "\t" in line)
    labels = []
    for synset in synsets:
        first = lemmas[synset].split(",")[0].strip()
        labels.append(first.replace("_", " "))
    return labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="path to a timm-*.whl")
    parser.add_argument("output", type=Path, nargs="?", default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    labels = build_labels(args.wheel)
    args.output.write_text("\n".join(labels) + "\n", encoding="utf-8")
    print(f"wrote {len(labels)} labels to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
