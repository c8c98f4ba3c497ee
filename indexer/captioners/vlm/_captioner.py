"""The ``vlm`` backend: any supported transformers vision-language model, by hub id or local directory."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import ClassVar

from PIL import Image

from ...captioning import (
    KNOWN_TASKS,
    TASK_ALT_TEXT,
    TASK_ASK,
    TASK_CAPTION,
    TASK_DETAILED,
    TASK_OCR,
    Answer,
    BaseCaptioner,
    CaptionerOptions,
    CaptionResult,
)
from .._cleaning import clean_output
from . import _loading
from ._batching import AdaptiveBatcher, parse_batch_size
from ._families import Adapter, Generation, Loaded, UnsupportedModel, adapter_for

#: Default on a GPU: a strong small chat VLM.
DEFAULT_CUDA_MODEL = "Qwen/Qwen2-VL-2B-Instruct"
#: Default on CPU: Florence-2 base (0.23B) in transformers' native port. The
#: original microsoft/Florence-2-base needs trust_remote_code; this is the
#: same weights converted to Florence2ForConditionalGeneration.
DEFAULT_CPU_MODEL = "florence-community/Florence-2-base"

#: Tokens per task when max_new_tokens is not given: a caption is one
#: sentence, OCR and detailed descriptions need room.
MAX_NEW_TOKENS = {TASK_CAPTION: 48, TASK_ALT_TEXT: 64, TASK_DETAILED: 256, TASK_OCR: 384, TASK_ASK: 96}

#: First batch size tried with batch_size="auto", before any OOM back-off.
AUTO_BATCH_CUDA = 8
AUTO_BATCH_CPU = 4


class TransformersCaptioner(BaseCaptioner):
    """Captions, alt text, OCR and answers from a transformers VLM.

    The constructor resolves the weights (local directory, Hugging Face
    cache, or a reachable hub) and the model family, and raises
    CaptionerUnavailable when they cannot be had; the weights load on first
    use and are shared by every instance in the process.
    """

    name: ClassVar[str] = "vlm"
    #: Every task some supported family can do; ``supported_tasks`` is this model's share.
    tasks: ClassVar[frozenset[str]] = KNOWN_TASKS

    def __init__(
        self,
        *,
        device: str = "auto",
        model: str | None = None,
        batch_size: int | str = "auto",
        max_new_tokens: int | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        if max_new_tokens is not None and max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, not {max_new_tokens}")
        parse_batch_size(batch_size)  # refuse bad values now, not at the first caption
        self.device = _loading.resolve_device(device)
        self.model_name = model or (DEFAULT_CUDA_MODEL if self.device.startswith("cuda") else DEFAULT_CPU_MODEL)
        self.trust_remote_code = trust_remote_code
        self.max_new_tokens = max_new_tokens
        self._resolved = _loading.resolve_model(self.model_name)
        try:
            self._adapter: Adapter = adapter_for(self._resolved.config, trust_remote_code=trust_remote_code)
        except UnsupportedModel as exc:
            raise UnsupportedModel(f"VLM model {self.model_name!r}: {exc}") from exc
        self._batcher = AdaptiveBatcher(
            batch_size, auto_start=AUTO_BATCH_CUDA if self.device.startswith("cuda") else AUTO_BATCH_CPU
        )
        self._loaded: Loaded | None = None

    @classmethod
    def from_options(cls, *, device: str, model: str | None, options: CaptionerOptions) -> TransformersCaptioner:
        return cls(
            device=device,
            model=model,
            batch_size="auto" if options.batch_size is None else options.batch_size,
            max_new_tokens=options.max_new_tokens,
            trust_remote_code=options.trust_remote_code,
        )

    # --- capabilities -------------------------------------------------
    @property
    def model_id(self) -> str:
        return self._resolved.model_id

    @property
    def family(self) -> str:
        return self._adapter.family

    @property
    def supported_tasks(self) -> frozenset[str]:
        """The caption tasks this model can do (ask is separate: see ``can_ask``)."""
        return self._adapter.tasks & KNOWN_TASKS

    @property
    def can_ask(self) -> bool:
        """Chat families answer questions; Florence-2 and BLIP caption only."""
        return TASK_ASK in self._adapter.tasks

    @property
    def batch_size(self) -> int:
        """The batch size the next call will try (it shrinks after an out-of-memory with "auto")."""
        return self._batcher.size

    @classmethod
    def available(cls) -> str | None:
        """None if the packages are installed; which model to use is checked by the constructor."""
        missing = [m for m in ("torch", "transformers", "huggingface_hub") if importlib.util.find_spec(m) is None]
        if missing:
            return f"missing package(s) {', '.join(missing)}; install with: pip install torch transformers"
        return None

    # --- model --------------------------------------------------------
    def _model(self) -> Loaded:
        if self._loaded is None:
            dtype = _loading.pick_dtype(self.device)
            key = (f"{self._resolved.source}@{self._resolved.revision or ''}", self.device, str(dtype))
            self._loaded = _loading.cached_load(
                key, lambda: self._adapter.load(self._resolved, device=self.device, dtype=dtype)
            )
        return self._loaded

    @property
    def dtype(self) -> object:
        """The torch dtype the weights run at (loads the model)."""
        return self._model().dtype

    # --- work ---------------------------------------------------------
    def _tokens(self, task: str) -> int:
        return self.max_new_tokens or MAX_NEW_TOKENS[task]

    def _run(self, task: str, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[Generation]:
        loaded = self._model()
        pairs = list(zip(images, prompts, strict=True))

        def batch(chunk: Sequence[tuple[Image.Image, str]]) -> list[Generation]:
            return self._adapter.generate(
                loaded, [image for image, _ in chunk], [prompt for _, prompt in chunk], self._tokens(task)
            )

        return self._batcher.run(pairs, batch)

    def caption(self, images: Sequence[Image.Image], task: str = TASK_CAPTION) -> list[CaptionResult]:
        if task not in self.supported_tasks:
            raise ValueError(
                f"VLM {self.model_name!r} ({self.family}) does not support task {task!r}; "
                f"supported: {sorted(self.supported_tasks)}"
            )
        if not images:
            return []
        prompt = self._adapter.prompt(self._model(), task)
        results = []
        for generation in self._run(task, images, [prompt] * len(images)):
            text = clean_output(generation.text, task, truncated=generation.truncated)
            extra: dict[str, object] = {"truncated": True} if generation.truncated else {}
            ocr = text if task == TASK_OCR else ""
            results.append(CaptionResult(text=text, ocr_text=ocr, extra=extra))
        return results

    def ask(self, images: Sequence[Image.Image], questions: Sequence[str]) -> list[Answer]:
        """One answer per (image, question) pair. A family not trained for
        free-form questions (Florence-2) refuses instead of answering."""
        if len(images) != len(questions):
            raise ValueError(f"ask needs one question per image, got {len(images)} images and {len(questions)}")
        if not self.can_ask:
            refusal = (
                f"VLM {self.model_name!r} ({self.family}) cannot answer free-form questions; "
                f"use a chat VLM such as vlm:{DEFAULT_CUDA_MODEL}"
            )
            return [Answer(refusal, answered=False, source="none") for _ in questions]
        if not images:
            return []
        loaded = self._model()
        prompts = [self._adapter.prompt(loaded, TASK_ASK, question) for question in questions]
        return [
            Answer(clean_output(g.text, TASK_ASK, truncated=g.truncated), answered=True, source="vlm")
            for g in self._run(TASK_ASK, images, prompts)
        ]
