"""Load a model's processor, also where torchvision (or num2words) is missing.

In transformers 5.x the processors of Qwen2-VL, Qwen2.5-VL, InternVL and
SmolVLM own a *video* processor, and video processors exist only on
torchvision, so ``AutoProcessor.from_pretrained`` fails on a CPU-only
torch install even though images need no torchvision at all (their image
processors have a PIL backend). Captioning never passes videos, so without
torchvision the processor is built without its video part. SmolVLM's
processor also insists on ``num2words``, which it uses only to word the
frame count of a video prompt.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from transformers import ProcessorMixin

_VIDEO = "video_processor"


@functools.cache
def _without_video(cls: type) -> type:
    """A subclass of processor ``cls`` that has no video processor."""
    from transformers import ProcessorMixin

    class NoVideo(cls):
        @classmethod
        def get_attributes(klass) -> list[str]:
            return [a for a in super().get_attributes() if a != _VIDEO]

        def apply_chat_template(self, conversation: Any, chat_template: str | None = None, **kwargs: Any) -> Any:
            # SmolVLM's override reads video defaults (frame count, fps) off the
            # video processor; the base implementation renders images alone.
            return ProcessorMixin.apply_chat_template(self, conversation, chat_template, **kwargs)

    NoVideo.__name__ = NoVideo.__qualname__ = cls.__name__
    NoVideo.__module__ = cls.__module__
    return NoVideo


def _build_without_video(cls: type[ProcessorMixin], source: str, **kwargs: Any) -> Any:
    """What ProcessorMixin.from_pretrained does, with ``video_processor=None``."""
    from transformers import AutoImageProcessor, AutoTokenizer

    processor_dict, _ = cls.get_processor_dict(source, **kwargs)
    params = inspect.signature(cls.__init__).parameters
    init_kwargs = {k: v for k, v in processor_dict.items() if k in params and k not in cls.get_attributes()}
    # A class is hashable; transformers' stubs declare ProcessorMixin.__hash__ so that mypy thinks otherwise.
    return _without_video(cast(type, cls))(
        image_processor=AutoImageProcessor.from_pretrained(source, **kwargs),
        tokenizer=AutoTokenizer.from_pretrained(source, **kwargs),
        video_processor=None,
        **init_kwargs,
    )


def _allow_missing_num2words(cls: type) -> None:
    import sys

    module = sys.modules.get(cls.__module__)
    if module is not None and getattr(module, "num2words", False) is None:
        # Only a video intro ("You are given {frame_count} frames") spells a number out.
        module.num2words = str  # type: ignore[attr-defined]


def load_processor(source: str, model_type: str, **kwargs: Any) -> Any:
    """``AutoProcessor.from_pretrained(source)``, minus the video processor where torchvision is missing."""
    from transformers import AutoProcessor
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES
    from transformers.utils import is_torchvision_available

    name = PROCESSOR_MAPPING_NAMES.get(model_type)
    if not name or kwargs.get("trust_remote_code"):
        return AutoProcessor.from_pretrained(source, **kwargs)
    import transformers

    cls = getattr(transformers, name)
    _allow_missing_num2words(cls)
    if is_torchvision_available() or _VIDEO not in cls.get_attributes():
        return AutoProcessor.from_pretrained(source, **kwargs)
    return _build_without_video(cls, source, **kwargs)
