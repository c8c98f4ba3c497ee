"""The bundled face detector (MTCNN, converted from facenet-pytorch's weights)."""

from __future__ import annotations

import functools
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from support.paths import REPO

from picscribe.indexer.captioners.offline import _faces
from picscribe.indexer.captioners.offline._models import Lazy


@functools.cache
def _mtcnn() -> _faces.MTCNN:
    """The cascade, loaded once for this module (the captioner gets it from PackagedModels)."""
    return _faces.load()


pytestmark = pytest.mark.models

SAMPLES = REPO / "data" / "samples" / "images"

# Photos with clear, frontal faces (checked by eye), and how many the detector must find.
WITH_FACES = {
    "000000442450.jpg": 2,  # two men with frisbees in a wood
    "000000000790.jpg": 3,  # birthday table: three faces visible, the fourth person faces away
}
# Photos with no people at all.
NO_PEOPLE = [
    "000000078499.jpg",  # horses on a hill above a lake
    "000000084284.jpg",  # a laptop on a desk, a lamp
    "000000216794.jpg",  # a shelter and a bench on a hill
]


def _open(name: str) -> Image.Image:
    with Image.open(SAMPLES / name) as im:
        return im.convert("RGB")


@pytest.fixture(scope="module")
def faces() -> dict[str, list[_faces.Face]]:
    return {name: _faces.detect_faces(_mtcnn(), _open(name)) for name in [*WITH_FACES, *NO_PEOPLE]}


def test_weights_match_the_architecture_strictly(tmp_path: Path) -> None:
    expected = {k: tuple(v.shape) for k, v in _faces.MTCNN().state_dict().items()}
    with np.load(_faces.WEIGHTS, allow_pickle=False) as z:
        stored = {k: (tuple(z[k].shape), z[k].dtype) for k in z.files if k != "meta"}
        meta = json.loads(str(z["meta"]))
    assert set(stored) == set(expected)
    assert {k: shape for k, (shape, _) in stored.items()} == expected
    assert all(dtype == np.float32 for _, dtype in stored.values())
    assert meta["package"] == "facenet-pytorch" and meta["version"] == "2.6.0"
    assert meta["license"] == "MIT"
    assert _faces.WEIGHTS.stat().st_size < 3 * 1024 * 1024
    # And the loader refuses anything else: a missing key, an extra one, a wrong shape.
    with np.load(_faces.WEIGHTS, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    missing = {k: v for k, v in arrays.items() if k != "onet.dense6_3.bias"}
    extra = {**arrays, "onet.dense7.weight": np.zeros((2, 2), np.float32)}
    reshaped = {**arrays, "pnet.conv1.weight": np.zeros((10, 3, 2, 2), np.float32)}
    for i, bad in enumerate((missing, extra, reshaped)):
        np.savez(tmp_path / f"bad{i}.npz", **bad)
        with pytest.raises(RuntimeError):
            _faces._build(tmp_path / f"bad{i}.npz")


def test_model_loads_once_across_threads() -> None:
    loads: list[int] = []

    def load() -> _faces.MTCNN:
        loads.append(1)
        return _faces.load()

    faces = Lazy(load)
    got: list[_faces.MTCNN] = []
    threads = [threading.Thread(target=lambda: got.append(faces.get())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and all(m is got[0] for m in got) and len(loads) == 1


@pytest.mark.parametrize("name", list(WITH_FACES))
def test_finds_the_clear_faces(faces: dict[str, list[_faces.Face]], name: str) -> None:
    assert len(faces[name]) == WITH_FACES[name]
    assert all(f.score >= _faces.DEFAULT_MIN_SCORE for f in faces[name])


def test_face_boxes_are_where_the_faces_are(faces: dict[str, list[_faces.Face]]) -> None:
    # 000000442450: the thrower's face is right of centre, the onlooker's at the far left;
    # both about 3% of the width and 5-6% of the height.
    centres = sorted(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in (f.box for f in faces["000000442450.jpg"]))
    (lx, ly), (rx, ry) = centres
    assert 0.05 < lx < 0.12 and 0.38 < ly < 0.47
    assert 0.53 < rx < 0.60 and 0.33 < ry < 0.42
    for f in faces["000000442450.jpg"]:
        x1, y1, x2, y2 = f.box
        assert 0.015 < x2 - x1 < 0.06 and 0.03 < y2 - y1 < 0.09


@pytest.mark.parametrize("name", NO_PEOPLE)
def test_no_faces_without_people(faces: dict[str, list[_faces.Face]], name: str) -> None:
    assert faces[name] == []


def test_boxes_are_normalised_ordered_and_sorted(faces: dict[str, list[_faces.Face]]) -> None:
    found = [f for fs in faces.values() for f in fs]
    assert found
    for fs in faces.values():
        assert [f.score for f in fs] == sorted((f.score for f in fs), reverse=True)
    for f in found:
        x1, y1, x2, y2 = f.box
        assert 0.0 <= x1 < x2 <= 1.0
        assert 0.0 <= y1 < y2 <= 1.0
        assert 0.0 <= f.score <= 1.0
        assert all(isinstance(v, float) for v in (*f.box, f.score))
    with pytest.raises(AttributeError):
        found[0].score = 0.0  # type: ignore[misc]  # frozen: the assignment must fail, and mypy knows it


def test_big_photo_is_downscaled_and_boxes_stay_in_its_coordinates(
    faces: dict[str, list[_faces.Face]],
) -> None:
    name = "000000442450.jpg"
    small = _open(name)
    big = small.resize((small.width * 2, small.height * 2), Image.Resampling.BICUBIC)
    found = _faces.detect_faces(_mtcnn(), big)
    assert len(found) == len(faces[name])
    for a, b in zip(sorted(f.box for f in found), sorted(f.box for f in faces[name]), strict=True):
        assert np.allclose(a, b, atol=0.02)


def test_odd_inputs() -> None:
    assert _faces.detect_faces(_mtcnn(), Image.new("RGB", (8, 8))) == []
    assert _faces.detect_faces(_mtcnn(), Image.new("RGB", (300, 200), (128, 128, 128))) == []
    # Any mode is accepted: the onlooker at the left of 000000442450, in greyscale.
    grey = _open("000000442450.jpg").crop((0, 60, 220, 360)).convert("L")
    assert len(_faces.detect_faces(_mtcnn(), grey, min_score=0.99)) == 1
    assert _faces.detect_faces(_mtcnn(), _open("000000442450.jpg"), min_score=1.01) == []


def test_crops_match_torch_area_resize_bit_for_bit() -> None:
    """The integral-image crop resizer must give exactly upstream's F.interpolate(area)."""
    rgb = np.asarray(_open("000000000790.jpg"))[:200, :300].copy()
    h, w = rgb.shape[:2]
    sat = _faces._integral(rgb)
    rng = np.random.default_rng(0)
    n = 64
    x1, y1, side = rng.uniform(-30, w, n), rng.uniform(-30, h, n), rng.uniform(2, 150, n)
    boxes = torch.tensor(np.stack([x1, y1, x1 + side, y1 + side, np.ones(n)], 1), dtype=torch.float32)
    img = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    for size in (24, 48):
        ours, ok = _faces._crops(sat, boxes, size)
        b = boxes[:, :4].trunc().int().numpy()
        x, y = np.maximum(b[:, 0], 1), np.maximum(b[:, 1], 1)
        ex, ey = np.minimum(b[:, 2], w), np.minimum(b[:, 3], h)
        ref = torch.cat(
            [
                F.interpolate(img[:, :, y[k] - 1 : ey[k], x[k] - 1 : ex[k]], size=(size, size), mode="area")
                for k in range(n)
                if ey[k] > y[k] - 1 and ex[k] > x[k] - 1
            ]
        )
        assert ok.sum() == len(ref) > 0
        assert torch.equal(ours, (ref - 127.5) * 0.0078125)


def test_fast_pnet_equals_the_layer_by_layer_original() -> None:
    pnet = _mtcnn().pnet
    torch.manual_seed(0)
    x = torch.randn(1, 3, 61, 83).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        reg, prob = pnet(x)
        ref_reg, ref_prob = pnet.forward_reference(x)
    assert reg.shape == ref_reg.shape == (1, 4, 26, 37)
    assert torch.allclose(reg, ref_reg, atol=1e-5)
    assert torch.allclose(prob, ref_prob[:, 1], atol=1e-5)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]], dtype=np.float32)
    scores = np.array([0.8, 0.9, 0.5, 0.8], dtype=np.float32)
    assert _faces._nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert _faces._nms(boxes, scores, 0.99).tolist() == [1, 0, 2]  # exact duplicate of 0 dropped
    assert _faces._nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).tolist() == []
