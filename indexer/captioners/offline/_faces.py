"""Face detector: MTCNN (P-, R-, O-net cascade), run in plain torch on CPU.

Weights: ``mtcnn_faces.npz``, converted by ``scripts/convert_faces.py`` from the
MIT-licensed PyPI package ``facenet-pytorch==2.6.0`` (``facenet_pytorch/data/{p,r,o}net.pt``;
originally Kaipeng Zhang's MTCNN Caffe models, MIT, via David Sandberg's ``facenet``,
MIT). See ``FACES_SOURCE.md``. The values are stored unchanged (float32).

The pipeline is facenet-pytorch's ``detect_face``, step for step:

1. an image pyramid (scale factor 0.709), each level resized with area averaging and
   run through the fully convolutional P-net (12x12 window, stride 2); candidate boxes
   at >= 0.6, NMS per level (IoU 0.5) and across levels (IoU 0.7), box regression,
   squared up;
2. each candidate cropped, resized to 24x24 (area averaging) and scored by the R-net
   (keep > 0.7), NMS (IoU 0.7), regression, squared up;
3. the same at 48x48 with the O-net (keep > 0.7), regression, then NMS by
   intersection over the smaller box (0.7).

On the same image and settings it gives upstream's boxes and scores to within float
rounding (checked against facenet-pytorch itself: same boxes, coordinates within
2e-4 px, scores within 3e-6; see ``FACES_SOURCE.md``). What differs is how, for CPU
speed: channels-last tensors throughout, a leaner but equivalent P-net (``PNet``),
the R/O-net crops resized for all boxes at once from an integral image (bit for bit
what ``F.interpolate(mode="area")`` gives per crop), and the nets run in chunks.

Around the cascade, ``detect_faces`` downscales big photos to ``MAX_SIDE`` first and
only looks for faces of at least ``MIN_FACE_FRACTION`` of the shorter side, which
bounds the pyramid. Boxes are MTCNN's 1-based inclusive pixels internally and are
returned as fractions of the photo's width and height.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ._findings import Face

WEIGHTS = Path(__file__).with_name("mtcnn_faces.npz")

#: Photos are downscaled so that the longer side is at most this many pixels before
#: detection. With the smallest face a fixed fraction of the photo (below), the cost
#: depends only on that fraction, so the working size just has to keep such faces at
#: least ~12 px (the P-net window): 3% of 480 px is 14 px.
MAX_SIDE = 640
#: The smallest face looked for, as a fraction of the working image's shorter side (and
#: never below the P-net's 12 px window). The first pyramid level is scaled by
#: 12 / min_face, so this sets the cost: on a 640x480 photo, 3% means 14.4 px and a
#: first level of 533x400. 4% would make the P-net stage ~40% cheaper, but on the
#: sample photos it loses most of the tennis-crowd faces and one of the three faces at
#: the birthday table.
MIN_FACE_FRACTION = 0.03
MIN_FACE_PX = 12.0
#: Pyramid scale step and the P/R/O-net thresholds: facenet-pytorch's defaults (those
#: of the original MTCNN release).
PYRAMID_FACTOR = 0.709
STAGE_THRESHOLDS = (0.6, 0.7, 0.7)
#: ``detect_faces`` keeps faces whose O-net probability is at least this. 0.9 is the
#: cut facenet-pytorch itself uses for a confident face ("largest_over_threshold").
#: Checked on: the 26 sample photos (nothing at all, even at 0.7, on the 16 without
#: people; every clearly visible face at >= 0.96, the lowest a large but tilted one;
#: between 0.7 and 0.9 only tiny crowd faces and two false hits, a hand holding a
#: candle and a T-shirt print), the 26 scikit-image sample pictures (the two faces at
#: >= 0.9995, nothing at >= 0.7 on the other 24), and scikit-image's LFW subset pasted
#: on a grey canvas (faces found: 99/100 at 0.9, 95/100 at 0.98; non-face patches
#: hit: 0/100 even at 0.7).
DEFAULT_MIN_SCORE = 0.9

_NORM_MEAN = 127.5
_NORM_SCALE = 0.0078125  # 1 / 128


# --------------------------------------------------------------------------- networks
# Layer names match facenet-pytorch's modules, so the state dicts load with strict=True.


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    assert conv.bias is not None  # every convolution here is built with a bias
    return conv.bias


class PNet(nn.Module):
    """Proposal net: fully convolutional, a 12x12 window at stride 2.

    ``features``/``forward`` run an equivalent, faster form (set up by ``pack``): conv1
    padded from 10 to 16 output channels (zero filters: channels-last PReLU and max-pool
    are several times faster on a multiple of 8 channels), and the face probability
    as sigmoid(l1 - l0) (= softmax([l0, l1])[1]) from one matrix-vector product, the box
    regression only where a face is likely. ``forward_reference`` is the original."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)  # face / not face
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)  # box regression
        self._packed: tuple[torch.Tensor, ...] | None = None

    def pack(self) -> None:
        """Derive the padded / fused weights ``forward`` uses (not part of the state dict)."""
        with torch.no_grad():
            w1 = torch.zeros(16, 3, 3, 3)
            w1[:10] = self.conv1.weight
            b1 = torch.zeros(16)
            b1[:10] = _bias(self.conv1)
            a1 = torch.zeros(16)
            a1[:10] = self.prelu1.weight
            w2 = torch.zeros(16, 16, 3, 3)
            w2[:, :10] = self.conv2.weight
            cls_w = self.conv4_1.weight.reshape(2, 32)
            cls_b = _bias(self.conv4_1)
            cl = torch.channels_last
            self._packed = (
                w1.contiguous(memory_format=cl),
                b1,
                a1,
                w2.contiguous(memory_format=cl),
                (cls_w[1] - cls_w[0]).contiguous(),
                cls_b[1] - cls_b[0],  # logit difference
                self.conv4_2.weight.reshape(4, 32).T.contiguous(),
                _bias(self.conv4_2),
            )

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, 3, H, W) -> the 32-channel features as an (H' * W', 32) matrix, and the face
        probability at each output position, (H', W'). The box regression is computed
        only where it is needed, by ``regression``."""
        if self._packed is None:
            self.pack()
        assert self._packed is not None
        w1, b1, a1, w2, cls_w, cls_b, _, _ = self._packed
        x = F.max_pool2d(F.prelu(F.conv2d(x, w1, b1), a1), 2, 2, ceil_mode=True)
        x = self.prelu2(F.conv2d(x, w2, self.conv2.bias))
        x = self.prelu3(self.conv3(x))
        _, _, h, w = x.shape
        feat = x.permute(0, 2, 3, 1).reshape(h * w, 32)  # channels-last: a view, no copy
        return feat, torch.sigmoid(torch.addmv(cls_b, feat, cls_w)).view(h, w)

    def regression(self, feat: torch.Tensor) -> torch.Tensor:
        """(n, 32) features -> (n, 4) box regression offsets."""
        assert self._packed is not None
        return torch.addmm(self._packed[7], feat, self._packed[6])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, 3, H, W) -> box regression (1, 4, H', W') and face probability (1, H', W')."""
        feat, prob = self.features(x)
        h, w = prob.shape
        return self.regression(feat).T.reshape(1, 4, h, w), prob[None]

    def forward_reference(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer-by-layer original (upstream's ``PNet.forward``), kept for the tests."""
        x = self.prelu1(self.conv1(x))
        x = self.pool1(x)
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)


class RNet(nn.Module):
    """Refinement net: 24x24 crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # The dense weights come from TensorFlow: flatten in (W, H, C) order.
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)


class ONet(nn.Module):
    """Output net: 48x48 crops. (``dense6_3``, the five-landmark head, is loaded but unused.)"""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), torch.softmax(self.dense6_1(x), dim=1)


class MTCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pnet = PNet()
        self.rnet = RNet()
        self.onet = ONet()


def _build(path: Path) -> MTCNN:
    model = MTCNN()
    with np.load(path, allow_pickle=False) as z:
        state = {k: torch.from_numpy(z[k].astype(np.float32)) for k in z.files if k != "meta"}
    model.load_state_dict(state, strict=True)  # raises on any missing, extra or misshapen key
    # torch's stubs leave out Module.to(memory_format=...), which torch accepts.
    model = model.to(memory_format=torch.channels_last).eval()  # type: ignore[call-overload]
    model.pnet.pack()
    return model


def load(path: Path = WEIGHTS) -> MTCNN:
    """The face cascade, ready to run (``PackagedModels`` loads it once per process)."""
    with torch.inference_mode(False):  # plain tensors, even if the first call is inside
        return _build(path)


# --------------------------------------------------------------------------- box helpers
# Same arithmetic as facenet-pytorch (float32 torch / numpy), to keep outputs identical.

_NMS_CHUNK = 256


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy NMS by IoU, as torchvision.ops.nms: areas without +1, suppress IoU > iou,
    ties in score broken by index (stable sort). Returns kept indices, best first.

    Overlaps are computed a block of rows at a time (rows: boxes in score order, columns:
    the boxes after them), so the Python loop only does a boolean OR per kept box."""
    n = len(boxes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    b = boxes[order].astype(np.float32, copy=False)
    x1, y1, x2, y2 = (np.ascontiguousarray(b[:, i]) for i in range(4))
    areas = (x2 - x1) * (y2 - y1)
    removed = np.zeros(n, dtype=bool)
    keep: list[int] = []
    zero = np.float32(0)
    for start in range(0, n, _NMS_CHUNK):
        stop = min(start + _NMS_CHUNK, n)
        if removed[start:stop].all():
            continue
        r = slice(start, stop)
        w = np.maximum(np.minimum(x2[r, None], x2[None, start:]) - np.maximum(x1[r, None], x1[None, start:]), zero)
        h = np.maximum(np.minimum(y2[r, None], y2[None, start:]) - np.maximum(y1[r, None], y1[None, start:]), zero)
        inter = w * h
        over = inter / (areas[r, None] + areas[None, start:] - inter) > iou
        tail = removed[start:]  # a view: updates land in ``removed``
        for k in range(stop - start):
            if tail[k]:
                continue
            keep.append(start + k)
            tail |= over[k]
    return order[np.asarray(keep, dtype=np.int64)]


def _nms_min(boxes: np.ndarray, scores: np.ndarray, thr: float) -> np.ndarray:
    """MTCNN's final NMS: overlap = intersection / smaller area, with +1 pixel sizes,
    suppress overlap > thr (facenet-pytorch's ``nms_numpy(..., 'Min')``)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)
    keep: list[int] = []
    while order.size > 0:
        i = order[-1]
        keep.append(int(i))
        idx = order[:-1]
        w = np.maximum(0.0, np.minimum(x2[i], x2[idx]) - np.maximum(x1[i], x1[idx]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[idx]) - np.maximum(y1[i], y1[idx]) + 1)
        order = idx[(w * h) / np.minimum(area[i], area[idx]) <= thr]
    return np.asarray(keep, dtype=np.int64)


def _bbreg(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """Apply the R/O-net box regression (offsets relative to the +1 box size)."""
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out = boxes.clone()
    out[:, 0] = boxes[:, 0] + reg[:, 0] * w
    out[:, 1] = boxes[:, 1] + reg[:, 1] * h
    out[:, 2] = boxes[:, 2] + reg[:, 2] * w
    out[:, 3] = boxes[:, 3] + reg[:, 3] * h
    return out


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each box to a square around its centre (MTCNN's ``rerec``)."""
    out = boxes.clone()
    h = boxes[:, 3] - boxes[:, 1]
    w = boxes[:, 2] - boxes[:, 0]
    side = torch.max(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


# --------------------------------------------------------------------------- resampling


def _bins(start: np.ndarray, length: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per crop (start, length), the ``size`` pooling bins of torch's adaptive average
    pooling (= ``F.interpolate(mode="area")``): [floor(i*L/size), ceil((i+1)*L/size))."""
    i = np.arange(size)
    lo = (i[None, :] * length[:, None]) // size
    hi = ((i[None, :] + 1) * length[:, None] + size - 1) // size
    return start[:, None] + lo, start[:, None] + hi


_CROP_CHUNK = 512


def _integral(rgb: np.ndarray) -> np.ndarray:
    """Summed-area table, (H+1, W+1, 3): int32 while the total fits (any photo up to
    ~8 megapixels, so always after downscaling to ``MAX_SIDE``), else int64."""
    h, w = rgb.shape[:2]
    dtype = np.int32 if h * w * 255 < 2**31 else np.int64
    sat = np.zeros((h + 1, w + 1, 3), dtype=dtype)
    np.cumsum(np.cumsum(rgb, axis=0, dtype=dtype), axis=1, out=sat[1:, 1:])
    return sat


_NET_CHUNK = 256


def _crops(sat: np.ndarray, boxes: torch.Tensor, size: int) -> tuple[torch.Tensor, np.ndarray]:
    """Cut each (1-based, inclusive) box out of the image, clipped to it, and resize it to
    size x size by area averaging (bit for bit what upstream's ``F.interpolate(crop,
    mode="area")`` gives, but from the integral image ``sat`` (see ``_integral``), for all
    boxes at once); normalised, as an (n, 3, size, size) channels-last batch. Also returns
    the mask of boxes with any pixels inside the image (the others are left out)."""
    h, w = sat.shape[0] - 1, sat.shape[1] - 1
    b = boxes[:, :4].trunc().int().numpy().astype(np.int64)
    x0, y0 = np.maximum(b[:, 0], 1) - 1, np.maximum(b[:, 1], 1) - 1
    x1, y1 = np.minimum(b[:, 2], w), np.minimum(b[:, 3], h)
    ok = (y1 > y0) & (x1 > x0)
    x0, y0, x1, y1 = x0[ok], y0[ok], x1[ok], y1[ok]
    hs, he = _bins(y0, y1 - y0, size)
    ws, we = _bins(x0, x1 - x0, size)
    flat = sat.reshape(-1, sat.shape[2])
    row = w + 1
    out = np.empty((len(x0), size, size, 3), dtype=np.float32)
    for c0 in range(0, len(x0), _CROP_CHUNK):
        c = slice(c0, c0 + _CROP_CHUNK)
        top, bot = hs[c, :, None] * row, he[c, :, None] * row
        left, right = ws[c, None, :], we[c, None, :]
        total = (
            np.take(flat, bot + right, axis=0)
            - np.take(flat, top + right, axis=0)
            - np.take(flat, bot + left, axis=0)
            + np.take(flat, top + left, axis=0)
        )
        # torch: float(sum) / kh / kw, in float32 (the sums are small integers: exact).
        kh = (he[c] - hs[c]).astype(np.float32)[:, :, None, None]
        kw = (we[c] - ws[c]).astype(np.float32)[:, None, :, None]
        out[c] = total.astype(np.float32) / kh / kw
    out -= _NORM_MEAN
    out *= _NORM_SCALE
    return torch.from_numpy(out).permute(0, 3, 1, 2), ok  # NCHW view of NHWC memory: channels-last


def _pyramid(h: int, w: int, min_face: float, factor: float) -> list[float]:
    m = 12.0 / min_face
    minl = min(h, w) * m
    scales: list[float] = []
    scale = m
    while minl >= 12:
        scales.append(scale)
        scale *= factor
        minl *= factor
    return scales


# --------------------------------------------------------------------------- the cascade


def _stage1(model: MTCNN, img: torch.Tensor, scales: list[float], thr: float) -> torch.Tensor:
    """P-net over the pyramid. ``img``: (1, 3, H, W) float, channels-last.
    Returns (n, 5) squared boxes, x1, y1, x2, y2, score."""
    h, w = img.shape[2:]
    per_scale: list[torch.Tensor] = []
    for scale in scales:
        im = F.interpolate(img, size=(int(h * scale + 1), int(w * scale + 1)), mode="area")
        feat, prob = model.pnet.features(im.sub_(_NORM_MEAN).mul_(_NORM_SCALE))
        mask = prob >= thr
        if not bool(mask.any()):
            continue
        yx = mask.nonzero()
        score = prob[mask]
        r = model.pnet.regression(feat[mask.reshape(-1)])
        xy = yx.flip(1).to(r.dtype)
        q1 = ((2 * xy + 1) / scale).floor()
        q2 = ((2 * xy + 12 - 1 + 1) / scale).floor()
        cand = torch.cat([q1, q2, score[:, None], r], dim=1)
        keep = _nms(cand[:, :4].numpy(), cand[:, 4].numpy(), 0.5)
        per_scale.append(cand[torch.from_numpy(keep)])
    if not per_scale:
        return torch.zeros((0, 5))
    boxes = torch.cat(per_scale)
    boxes = boxes[torch.from_numpy(_nms(boxes[:, :4].numpy(), boxes[:, 4].numpy(), 0.7))]
    regw = boxes[:, 2] - boxes[:, 0]
    regh = boxes[:, 3] - boxes[:, 1]
    out = torch.stack(
        [
            boxes[:, 0] + boxes[:, 5] * regw,
            boxes[:, 1] + boxes[:, 6] * regh,
            boxes[:, 2] + boxes[:, 7] * regw,
            boxes[:, 3] + boxes[:, 8] * regh,
            boxes[:, 4],
        ],
        dim=1,
    )
    return _square(out)


def _refine(
    net: nn.Module, sat: np.ndarray, boxes: torch.Tensor, size: int, thr: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Score crops with the R- or O-net and keep those above ``thr``. Returns (n, 5)
    boxes (x1, y1, x2, y2 as given, the new score) and their (n, 4) regression offsets."""
    batch, ok = _crops(sat, boxes, size)
    boxes = boxes[torch.from_numpy(ok)]
    if len(boxes) == 0:
        return boxes.new_zeros((0, 5)), boxes.new_zeros((0, 4))
    # In chunks: a few hundred crops' activations stay in cache (3x faster than one batch).
    outs = [net(batch[i : i + _NET_CHUNK]) for i in range(0, len(batch), _NET_CHUNK)]
    reg = torch.cat([o[0] for o in outs])
    score = torch.cat([o[1][:, 1] for o in outs])
    keep = score > thr
    return torch.cat([boxes[keep, :4], score[keep, None]], dim=1), reg[keep]


@torch.inference_mode()
def _detect_pixels(
    model: MTCNN,
    rgb: np.ndarray,
    min_face: float,
    factor: float = PYRAMID_FACTOR,
    thresholds: tuple[float, float, float] = STAGE_THRESHOLDS,
) -> np.ndarray:
    """The MTCNN cascade on an (H, W, 3) uint8 RGB array. Returns (n, 5) float32:
    x1, y1, x2, y2 (1-based inclusive pixels, as upstream) and the O-net score."""
    rgb = np.array(rgb, dtype=np.uint8)  # a private, writable copy (PIL's arrays are read-only)
    h, w = rgb.shape[:2]
    # (1, 3, H, W) as a view of the HWC array: channels-last, which the convolutions,
    # poolings and area resizing all run fastest in on CPU.
    img = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    boxes = _stage1(model, img, _pyramid(h, w, min_face, factor), thresholds[0])
    if len(boxes) == 0:
        return np.zeros((0, 5), dtype=np.float32)
    sat = _integral(rgb)
    boxes, reg = _refine(model.rnet, sat, boxes, 24, thresholds[1])
    keep = torch.from_numpy(_nms(boxes[:, :4].numpy(), boxes[:, 4].numpy(), 0.7))
    boxes = _square(_bbreg(boxes[keep], reg[keep]))
    if len(boxes) == 0:
        return np.zeros((0, 5), dtype=np.float32)
    boxes, reg = _refine(model.onet, sat, boxes, 48, thresholds[2])
    boxes = _bbreg(boxes, reg)
    boxes = boxes[torch.from_numpy(_nms_min(boxes[:, :4].numpy(), boxes[:, 4].numpy(), 0.7))]
    return boxes.numpy().astype(np.float32, copy=False).reshape(-1, 5)


def _working_image(image: Image.Image) -> Image.Image:
    img = image.convert("RGB")
    w, h = img.size
    if max(w, h) > MAX_SIDE:
        s = MAX_SIDE / max(w, h)
        img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BILINEAR)
    return img


def min_face_px(width: int, height: int) -> float:
    """The smallest face (pixels of the working image) that ``detect_faces`` looks for."""
    return max(MIN_FACE_PX, MIN_FACE_FRACTION * min(width, height))


@torch.inference_mode()
def detect_faces(model: MTCNN, image: Image.Image, min_score: float = DEFAULT_MIN_SCORE) -> list[Face]:
    """Find faces in a photo (any PIL mode): best score first, each box as (x1, y1, x2, y2)
    fractions of the image's width and height.

    Faces smaller than ``MIN_FACE_FRACTION`` (3%) of the shorter side are not looked
    for. ``min_score`` is the O-net probability a face must reach; the cascade itself
    lets through anything above 0.7, so lower values than that change nothing.
    Thread-safe; ``model`` comes from ``load``."""
    img = _working_image(image)
    w, h = img.size
    if min(w, h) < 12:
        return []
    boxes = _detect_pixels(model, np.asarray(img), min_face_px(w, h))
    faces: list[Face] = []
    for x1, y1, x2, y2, score in boxes.tolist():
        if score < min_score:
            continue
        # 1-based inclusive pixels -> [0, 1] fractions (pixel k covers [k-1, k)).
        nx1, ny1 = min(max((x1 - 1) / w, 0.0), 1.0), min(max((y1 - 1) / h, 0.0), 1.0)
        nx2, ny2 = min(max(x2 / w, 0.0), 1.0), min(max(y2 / h, 0.0), 1.0)
        if nx2 <= nx1 or ny2 <= ny1:
            continue
        faces.append(Face((nx1, ny1, nx2, ny2), float(score)))
    faces.sort(key=lambda f: -f.score)
    return faces
