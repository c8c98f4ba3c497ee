#!/usr/bin/env python3
"""Convert the MTCNN face-detector weights in the facenet-pytorch wheel to ``mtcnn_faces.npz``.

Source: PyPI ``facenet-pytorch==2.6.0`` (MIT), files ``facenet_pytorch/data/pnet.pt``,
``rnet.pt`` and ``onet.pt``: PyTorch ``state_dict``s (legacy pickle format, float32)
of the three MTCNN stages (P-, R- and O-net). See
``indexer/captioners/offline/FACES_SOURCE.md`` for provenance and licence.

The output ``.npz`` holds one array per parameter, named ``<net>.<parameter>``
(``pnet.conv1.weight``, ``onet.dense6_3.bias`` ...), with the upstream shapes and
values unchanged (float32, no re-quantisation), plus ``meta``: a JSON string with the
provenance (package, version, sha256 of the wheel and of each source file). Only the
parameters ``indexer/captioners/offline/_faces.py`` uses are kept: the O-net's
facial-landmark head (``dense6_3``) is kept too, as it is part of the network and
costs 10 KB.

Needs torch (only to unpickle the ``.pt`` files, with ``weights_only=True``: no code
from the wheel is run or imported) and numpy. Usage::

    pip download facenet-pytorch==2.6.0 --no-deps -d /tmp/fp
    python scripts/convert_faces.py /tmp/fp/facenet_pytorch-2.6.0-py3-none-any.whl \
        indexer/captioners/offline/mtcnn_faces.npz

``--compare IMAGE...`` then checks ``indexer/captioners/offline/_faces.py`` against
facenet-pytorch's own ``MTCNN`` on those images (same working image, same minimum face
size and thresholds): the networks on random inputs, and the whole cascade's boxes and
scores. It needs facenet-pytorch importable, so run it in a throwaway environment (the
package pins old torch/torchvision; with ``--no-deps`` it works on current ones)::

    python -m venv /tmp/ref && /tmp/ref/bin/pip install torch torchvision numpy pillow requests tqdm
    /tmp/ref/bin/pip install --no-deps /tmp/fp/facenet_pytorch-2.6.0-py3-none-any.whl
    /tmp/ref/bin/python scripts/convert_faces.py /tmp/fp/facenet_pytorch-2.6.0-py3-none-any.whl \
        /tmp/check.npz --compare data/samples/images/*.jpg
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import TypedDict

import numpy as np

NETS = ("pnet", "rnet", "onet")
DATA_DIR = "facenet_pytorch/data"
DEFAULT_DEST = Path(__file__).resolve().parents[1] / "indexer/captioners/offline/mtcnn_faces.npz"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _WheelInfo(TypedDict):
    name: str
    version: str
    license: str | None
    license_classifiers: list[str]
    home_page: str | None
    author: str | None


def _read_metadata(whl: zipfile.ZipFile) -> tuple[_WheelInfo, str]:
    """Package name/version/licence classifiers from ``*.dist-info/METADATA``, and the
    text of the licence file the wheel ships."""
    names = whl.namelist()
    meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
    msg = Parser().parsestr(whl.read(meta_name).decode("utf-8"), headersonly=True)
    classifiers = msg.get_all("Classifier") or []
    info: _WheelInfo = {
        "name": msg["Name"],
        "version": msg["Version"],
        "license": msg.get("License"),
        "license_classifiers": [c for c in classifiers if c.startswith("License ::")],
        "home_page": msg.get("Home-page"),
        "author": msg.get("Author"),
    }
    lic_names = [n for n in names if ".dist-info/" in n and "LICEN" in n.upper()]
    lic_text = whl.read(lic_names[0]).decode("utf-8") if lic_names else ""
    return info, lic_text


def _load_state_dict(data: bytes) -> dict[str, np.ndarray]:
    import torch  # only needed here, to unpickle the legacy .pt format

    sd = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return {k: v.detach().cpu().numpy() for k, v in sd.items()}


def convert(wheel: Path, dest: Path, *, float16: bool = False) -> dict[str, object]:
    wheel_bytes = wheel.read_bytes()
    arrays: dict[str, np.ndarray] = {}
    files: dict[str, str] = {}
    with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as whl:
        info, lic_text = _read_metadata(whl)
        if info["name"] != "facenet-pytorch":
            raise SystemExit(f"not a facenet-pytorch wheel: {info['name']!r}")
        if "License :: OSI Approved :: MIT License" not in info["license_classifiers"] or "MIT License" not in lic_text:
            raise SystemExit(f"unexpected licence metadata: {info['license_classifiers']}")
        for net in NETS:
            name = f"{DATA_DIR}/{net}.pt"
            data = whl.read(name)
            files[name] = _sha256(data)
            for key, arr in _load_state_dict(data).items():
                if arr.dtype != np.float32:
                    raise SystemExit(f"{net}.{key}: unexpected dtype {arr.dtype}")
                arrays[f"{net}.{key}"] = arr.astype(np.float16) if float16 else arr
    meta: dict[str, object] = {
        "package": info["name"],
        "version": info["version"],
        "license": "MIT",
        "license_classifiers": info["license_classifiers"],
        "wheel": wheel.name,
        "wheel_sha256": _sha256(wheel_bytes),
        "files_sha256": files,
        "dtype": "float16" if float16 else "float32",
        "converter": "scripts/convert_faces.py",
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Sorted keys + numpy's fixed zip timestamps: the output is byte-reproducible.
    np.savez_compressed(
        dest,
        allow_pickle=False,  # numeric arrays and one string only
        meta=np.array(json.dumps(meta, sort_keys=True)),
        **{k: arrays[k] for k in sorted(arrays)},
    )
    return meta


def compare(weights: Path, images: list[Path], thresholds: tuple[float, float, float]) -> bool:
    """Our ``_faces`` (loading ``weights``) against facenet-pytorch's MTCNN. True if the
    cascade finds the same number of boxes everywhere (the differences are printed)."""
    import importlib.util

    import torch
    from facenet_pytorch import MTCNN
    from facenet_pytorch.models.mtcnn import ONet, PNet, RNet
    from PIL import Image

    src = Path(__file__).resolve().parents[1] / "indexer/captioners/offline/_faces.py"
    spec = importlib.util.spec_from_file_location("picscribe_faces", src)
    assert spec is not None and spec.loader is not None
    ours = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = ours
    spec.loader.exec_module(ours)
    model = ours.load(weights)

    torch.manual_seed(0)
    with torch.inference_mode():
        for name, ref_net, shape in [
            ("pnet", PNet(), (1, 3, 301, 417)),
            ("rnet", RNet(), (64, 3, 24, 24)),
            ("onet", ONet(), (64, 3, 48, 48)),
        ]:
            x = torch.randn(shape).contiguous(memory_format=torch.channels_last)
            a, b = getattr(model, name)(x), ref_net.eval()(x)
            ref_reg, ref_prob = (b[0], b[2][:, 1]) if name == "onet" else (b[0], b[1][:, 1])
            prob = a[1] if name == "pnet" else a[1][:, 1]
            print(
                f"{name}: max |diff| regression {(a[0] - ref_reg).abs().max():.3g}, "
                f"face probability {(prob - ref_prob).abs().max():.3g}"
            )

    ref = MTCNN(keep_all=True, select_largest=False, thresholds=list(thresholds))
    ok, n_boxes, worst_box, worst_score = True, 0, 0.0, 0.0
    for path in images:
        with Image.open(path) as im:
            img = ours._working_image(im)
        w, h = img.size
        ref.min_face_size = ours.min_face_px(w, h)
        rb, rp = ref.detect(img)
        rb = np.zeros((0, 4), np.float32) if rb is None else np.asarray(rb, np.float32)
        rp = np.asarray(rp, np.float32) if len(rb) else np.zeros(0, np.float32)
        ob = ours._detect_pixels(model, np.asarray(img), ours.min_face_px(w, h), thresholds=thresholds)
        if len(ob) != len(rb):
            ok = False
            print(f"{path.name}: {len(rb)} boxes upstream, {len(ob)} ours  <-- MISMATCH")
            continue
        n_boxes += len(rb)
        db = float(np.abs(rb - ob[:, :4]).max()) if len(rb) else 0.0
        ds = float(np.abs(rp - ob[:, 4]).max()) if len(rb) else 0.0
        worst_box, worst_score = max(worst_box, db), max(worst_score, ds)
        print(f"{path.name} ({w}x{h}): {len(rb)} boxes, max |diff| {db:.3g} px, score {ds:.3g}")
    print(
        f"thresholds {thresholds}: {len(images)} images, {n_boxes} boxes, counts "
        f"{'all equal' if ok else 'DIFFER'}, worst box diff {worst_box:.3g} px, "
        f"worst score diff {worst_score:.3g}  (torch {torch.__version__})"
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wheel", type=Path, help="facenet_pytorch-2.6.0-py3-none-any.whl")
    ap.add_argument("dest", type=Path, nargs="?", default=DEFAULT_DEST)
    ap.add_argument(
        "--float16", action="store_true", help="store float16 (halves the file; not what ships: float32 is exact)"
    )
    ap.add_argument(
        "--compare",
        type=Path,
        nargs="+",
        metavar="IMAGE",
        help="check the result against facenet-pytorch's MTCNN on these images",
    )
    ap.add_argument(
        "--thresholds", default="0.6,0.7,0.7", help="P/R/O-net thresholds for --compare (lower ones compare more boxes)"
    )
    args = ap.parse_args(argv)
    meta = convert(args.wheel, args.dest, float16=args.float16)
    print(json.dumps(meta, indent=2, sort_keys=True))
    print(f"wrote {args.dest} ({args.dest.stat().st_size} bytes, sha256 {_sha256(args.dest.read_bytes())})")
    if args.compare:
        t = tuple(float(v) for v in args.thresholds.split(","))
        if len(t) != 3:
            raise SystemExit("--thresholds takes three numbers")
        return 0 if compare(args.dest, args.compare, (t[0], t[1], t[2])) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
