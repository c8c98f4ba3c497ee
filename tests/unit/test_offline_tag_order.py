"""The offline captioner's tags come out in one order in every process: their
order is part of the embedded text, so a Ray worker and the driver (or two
runs) must embed one photo alike. A set's order follows PYTHONHASHSEED."""

from __future__ import annotations

import os
import subprocess
import sys

_PRINT_TAGS = (
    "from picscribe.indexer.captioners.offline._captioner import _object_tags\n"
    "from picscribe.indexer.captioners.offline._findings import Detection\n"
    "box = (0.1, 0.1, 0.5, 0.5)\n"
    "dets = [Detection('potted plant', 0.8, box), Detection('dining table', 0.7, box), Detection('bus', 0.6, box)]\n"
    "print([t.label for t in _object_tags(dets)])\n"
)


def test_object_tags_keep_one_order_whatever_the_hash_seed() -> None:
    orders = {
        subprocess.run(
            [sys.executable, "-c", _PRINT_TAGS],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for seed in range(6)
    }
    assert orders == {"['potted plant', 'plant', 'dining table', 'table', 'bus']\n"}
