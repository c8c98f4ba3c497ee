"""Per-family adapters: how each VLM family is loaded, prompted, batched and decoded.

The family comes from the saved config's ``model_type`` (never from the repo
name, which users rename freely). An adapter knows

- which transformers class and processor load the weights,
- how a task becomes the model's prompt (chat template, task token, or text prefix),
- how images are handed to the processor and the batch is padded,
- which generated tokens are the answer.

Everything else (batching, cleaning, caching) is family-independent.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image

from .. import _prompts
from ._loading import ResolvedModel
from ._processors import load_processor

if TYPE_CHECKING:
    import torch

#: Longest image side handed to any processor: every family resizes far below
#: this anyway, and a 50-megapixel photo costs seconds to resize in the processor.
MAX_IMAGE_SIDE = 2048


@dataclass
class Loaded:
    """A model with its processor, on its device, ready to generate."""

    model: Any
    processor: Any
    device: str
    dtype: torch.dtype


@dataclass(frozen=True)
class Generation:
    """One raw answer, before cleaning."""

    text: str
    #: Generation stopped at max_new_tokens rather than at an end-of-sequence token.
    truncated: bool


def _fit(image: Image.Image, *, max_side: int = MAX_IMAGE_SIDE, max_pixels: int | None = None) -> Image.Image:
    image = image.convert("RGB")
    w, h = image.size
    scale = min(1.0, max_side / max(w, h))
    if max_pixels is not None:
        scale = min(scale, math.sqrt(max_pixels / (w * h)))
    if scale < 1.0:
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)
    return image


def _transformers_class(name: str) -> Any:
    import transformers

    return getattr(transformers, name)


def _quiet_progress() -> None:
    """No weight-loading progress bars unless stderr is a terminal (the CLI's progress contract)."""
    if not sys.stderr.isatty():
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def _eos_ids(model: Any) -> set[int]:
    eos = getattr(model.generation_config, "eos_token_id", None)
    if eos is None:
        return set()
    return {int(t) for t in eos} if isinstance(eos, list | tuple) else {int(eos)}


class Adapter:
    """A chat VLM: the prompt goes through the processor's chat template, one image per turn."""

    #: The family this adapter serves, for messages and extra fields.
    family: str = "chat"
    #: A key of _prompts.FAMILY_PROMPTS, or "chat" for the shared instructions.
    style: str = "chat"
    #: The transformers class that loads the weights.
    model_class: str = "AutoModelForImageTextToText"
    #: Decoder-only models continue the prompt, so batches must be left-padded.
    decoder_only: bool = True
    #: Idefics3 / SmolVLM take a list of images per prompt.
    nested_images: bool = False
    #: Downscale before the processor; dynamic-resolution families otherwise turn a photo into thousands of tokens.
    max_image_pixels: int | None = None
    #: Loaded with the repo's own Python code (trust_remote_code=True).
    remote_code: bool = False
    #: Prompt used when the processor has no chat template ({image} and {prompt} placeholders).
    fallback_template: str = "{image}\n{prompt}"

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    # --- capabilities -------------------------------------------------
    @property
    def tasks(self) -> frozenset[str]:
        """Tasks including _prompts.TASK_ASK."""
        return _prompts.supported_tasks(self.style)

    # --- loading ------------------------------------------------------
    def _from_pretrained_kwargs(self, resolved: ResolvedModel) -> dict[str, Any]:
        kwargs = dict(resolved.from_pretrained_kwargs)
        if self.remote_code:
            kwargs["trust_remote_code"] = True
        return kwargs

    def load(self, resolved: ResolvedModel, *, device: str, dtype: torch.dtype) -> Loaded:
        kwargs = self._from_pretrained_kwargs(resolved)
        _quiet_progress()
        processor = load_processor(resolved.source, str(self.config.get("model_type")), **kwargs)
        model = _transformers_class(self.model_class).from_pretrained(resolved.source, dtype=dtype, **kwargs)
        model = model.to(device).eval()
        tokenizer = getattr(processor, "tokenizer", processor)
        if self.decoder_only:
            tokenizer.padding_side = "left"
        if tokenizer.pad_token is None and tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        return Loaded(model=model, processor=processor, device=device, dtype=dtype)

    # --- prompting ----------------------------------------------------
    def prompt(self, loaded: Loaded, task: str, question: str | None = None) -> str:
        instruction = _prompts.prompt_for(self.style, task, question)
        processor = loaded.processor
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": instruction}]}]
        if getattr(processor, "chat_template", None):
            with warnings.catch_warnings():
                # Real templates (llava-v1.6-mistral) write '<\/s>', which jinja decodes with a
                # DeprecationWarning on Python >= 3.12 style escapes; the template is still right.
                warnings.filterwarnings("ignore", "invalid escape sequence", DeprecationWarning)
                warnings.filterwarnings("ignore", "decoding with 'unicode-escape'", DeprecationWarning)
                return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        image_token = getattr(processor, "image_token", None) or "<image>"
        return self.fallback_template.format(image=image_token, prompt=instruction)

    # --- generation ---------------------------------------------------
    def prepare_images(self, images: Sequence[Image.Image]) -> list[Image.Image]:
        return [_fit(image, max_pixels=self.max_image_pixels) for image in images]

    def encode(self, loaded: Loaded, images: Sequence[Image.Image], prompts: Sequence[str]) -> Any:
        batch_images: list[Any] = [[image] for image in images] if self.nested_images else list(images)
        return loaded.processor(text=list(prompts), images=batch_images, padding=True, return_tensors="pt")

    def answer_ids(self, output: torch.Tensor, inputs: Any) -> torch.Tensor:
        """The generated part of ``output``: decoder-only models echo the prompt first,
        encoder-decoders start with the decoder start token."""
        if self.decoder_only:
            return output[:, inputs["input_ids"].shape[1] :]
        return output[:, 1:]

    def eos_ids(self, loaded: Loaded) -> set[int]:
        return _eos_ids(loaded.model)

    def generate_kwargs(self, loaded: Loaded) -> dict[str, Any]:
        tokenizer = getattr(loaded.processor, "tokenizer", loaded.processor)
        kwargs: dict[str, Any] = {"do_sample": False, "num_beams": 1}
        if tokenizer.pad_token_id is not None:
            kwargs["pad_token_id"] = tokenizer.pad_token_id
        return kwargs

    def decode(self, loaded: Loaded, ids: torch.Tensor) -> list[str]:
        tokenizer = getattr(loaded.processor, "tokenizer", loaded.processor)
        return tokenizer.batch_decode(ids, skip_special_tokens=True)

    def generate(
        self, loaded: Loaded, images: Sequence[Image.Image], prompts: Sequence[str], max_new_tokens: int
    ) -> list[Generation]:
        import torch

        inputs = self.encode(loaded, self.prepare_images(images), prompts)
        inputs = inputs.to(device=loaded.device, dtype=loaded.dtype)
        with torch.inference_mode():
            output = loaded.model.generate(**inputs, max_new_tokens=max_new_tokens, **self.generate_kwargs(loaded))
        answers = self.answer_ids(output, inputs)
        eos = self.eos_ids(loaded)
        texts = self.decode(loaded, answers)
        # A row with no end-of-sequence token before the last allowed position ran
        # out of tokens mid-answer (encoder-decoders force an EOS into that last slot).
        truncated = [not eos.intersection(row[: max_new_tokens - 1].tolist()) for row in answers]
        return [Generation(text, cut) for text, cut in zip(texts, truncated, strict=True)]


class QwenVLAdapter(Adapter):
    family = "qwen2_vl"
    # 768 visual tokens of 28x28 pixels: plenty for a caption, and it keeps a
    # 24-megapixel photo from becoming a 30,000-token prompt.
    max_image_pixels = 768 * 28 * 28
    fallback_template = (
        "<|im_start|>user\n<|vision_start|>{image}<|vision_end|>{prompt}<|im_end|>\n<|im_start|>assistant\n"
    )


class LlavaAdapter(Adapter):
    family = "llava"
    fallback_template = "USER: {image}\n{prompt} ASSISTANT:"


class LlavaNextAdapter(Adapter):
    family = "llava_next"
    fallback_template = "[INST] {image}\n{prompt} [/INST]"


class InternVLAdapter(Adapter):
    family = "internvl"
    fallback_template = "<|im_start|>user\n{image}\n{prompt}<|im_end|>\n<|im_start|>assistant\n"


class SmolVLMAdapter(Adapter):
    family = "smolvlm"
    nested_images = True
    fallback_template = "<|im_start|>User:{image}{prompt}<end_of_utterance>\nAssistant:"


class Idefics3Adapter(SmolVLMAdapter):
    family = "idefics3"


class _TextPromptAdapter(Adapter):
    """Families that are not chat models: the prompt is the family's task text, as is."""

    def prompt(self, loaded: Loaded, task: str, question: str | None = None) -> str:
        return _prompts.prompt_for(self.style, task, question)

    def encode(self, loaded: Loaded, images: Sequence[Image.Image], prompts: Sequence[str]) -> Any:
        return loaded.processor(images=list(images), text=list(prompts), padding=True, return_tensors="pt")


class Florence2Adapter(_TextPromptAdapter):
    """Florence-2: an encoder-decoder trained on task tokens (<CAPTION>, <OCR>, ...)."""

    family = "florence2"
    style = _prompts.FLORENCE2
    model_class = "Florence2ForConditionalGeneration"
    decoder_only = False


class Florence2RemoteAdapter(Florence2Adapter):
    """The original microsoft/Florence-2-* repos, which ship their own modelling code."""

    family = "florence2-remote"
    model_class = "AutoModelForCausalLM"
    remote_code = True


class Blip2Adapter(_TextPromptAdapter):
    """BLIP-2: a Q-Former in front of a frozen LM (OPT or Flan-T5), prompted with a text prefix."""

    family = "blip2"
    style = _prompts.BLIP2
    model_class = "Blip2ForConditionalGeneration"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        # Flan-T5 variants are encoder-decoder: their output does not echo the prompt.
        text_type = (config.get("text_config") or {}).get("model_type", "opt")
        self.decoder_only = text_type not in {"t5", "mt5", "umt5"}


class BlipAdapter(_TextPromptAdapter):
    """BLIP captioning: a BERT-style decoder continuing a text prefix ("a photography of")."""

    family = "blip"
    style = _prompts.BLIP
    model_class = "BlipForConditionalGeneration"

    def load(self, resolved: ResolvedModel, *, device: str, dtype: torch.dtype) -> Loaded:
        loaded = super().load(resolved, device=device, dtype=dtype)
        # BERT pads on the right and BLIP's decoder takes no position ids from the
        # attention mask, so prompts are batched only at equal length (see generate).
        loaded.processor.tokenizer.padding_side = "right"
        return loaded

    def answer_ids(self, output: torch.Tensor, inputs: Any) -> torch.Tensor:
        # BLIP generates from the prompt minus its trailing [SEP], so the echo is one shorter.
        return output[:, inputs["input_ids"].shape[1] - 1 :]

    def eos_ids(self, loaded: Loaded) -> set[int]:
        return {int(loaded.model.config.text_config.sep_token_id)}

    def generate_kwargs(self, loaded: Loaded) -> dict[str, Any]:
        # BLIP's generate sets pad and eos (its [SEP]) itself.
        return {"do_sample": False, "num_beams": 1}

    def generate(
        self, loaded: Loaded, images: Sequence[Image.Image], prompts: Sequence[str], max_new_tokens: int
    ) -> list[Generation]:
        # Prompts of different lengths would put padding in the middle of the
        # sequence the decoder continues; run each distinct prompt as its own batch.
        results: dict[int, Generation] = {}
        for prompt in dict.fromkeys(prompts):
            idx = [i for i, p in enumerate(prompts) if p == prompt]
            out = super().generate(loaded, [images[i] for i in idx], [prompt] * len(idx), max_new_tokens)
            results.update(zip(idx, out, strict=True))
        return [results[i] for i in range(len(prompts))]


class BlipVqaAdapter(BlipAdapter):
    """BlipForQuestionAnswering checkpoints (Salesforce/blip-vqa-*): questions only."""

    family = "blip-vqa"
    style = _prompts.BLIP_VQA
    model_class = "BlipForQuestionAnswering"

    def answer_ids(self, output: torch.Tensor, inputs: Any) -> torch.Tensor:
        # The answer decoder starts from its own BOS; nothing of the question is echoed.
        return output[:, 1:]


class InternVLChatRemoteAdapter(Adapter):
    """Original InternVL2 / InternVL2.5 repos (model_type internvl_chat), which ship their own code.

    They have no processor: images are tiled to 448x448 as the model card's
    ``load_image`` does, and answers come from the repo's ``batch_chat``.
    """

    family = "internvl_chat-remote"
    model_class = "AutoModel"
    remote_code = True
    tile = 448
    max_tiles = 6
    _mean = (0.485, 0.456, 0.406)
    _std = (0.229, 0.224, 0.225)

    def load(self, resolved: ResolvedModel, *, device: str, dtype: torch.dtype) -> Loaded:
        kwargs = self._from_pretrained_kwargs(resolved)
        _quiet_progress()
        tokenizer = _transformers_class("AutoTokenizer").from_pretrained(resolved.source, use_fast=False, **kwargs)
        model = _transformers_class("AutoModel").from_pretrained(resolved.source, dtype=dtype, **kwargs)
        return Loaded(model=model.to(device).eval(), processor=tokenizer, device=device, dtype=dtype)

    def prompt(self, loaded: Loaded, task: str, question: str | None = None) -> str:
        # batch_chat applies the conversation template and the <image> placeholder itself.
        return _prompts.prompt_for(self.style, task, question)

    def tiles(self, image: Image.Image) -> list[Image.Image]:
        """InternVL's dynamic_preprocess: the aspect-ratio grid closest to the image, plus a thumbnail."""
        w, h = image.size
        sides = range(1, self.max_tiles + 1)
        grids = sorted({(c, r) for c in sides for r in sides if c * r <= self.max_tiles}, key=lambda g: g[0] * g[1])
        aspect, best, best_diff = w / h, (1, 1), float("inf")
        for grid in grids:
            diff = abs(aspect - grid[0] / grid[1])
            # On a tie the model card's code takes the bigger grid when the image has the pixels for it.
            if diff < best_diff or (diff == best_diff and w * h > 0.5 * self.tile**2 * grid[0] * grid[1]):
                best, best_diff = grid, diff
        cols, rows = best
        resized = image.resize((self.tile * cols, self.tile * rows), Image.Resampling.BICUBIC)
        out = [
            resized.crop((c * self.tile, r * self.tile, (c + 1) * self.tile, (r + 1) * self.tile))
            for r in range(rows)
            for c in range(cols)
        ]
        if len(out) > 1:
            out.append(image.resize((self.tile, self.tile), Image.Resampling.BICUBIC))
        return out

    def pixel_values(self, image: Image.Image) -> torch.Tensor:
        import numpy as np
        import torch

        arrays = [np.asarray(t, dtype=np.float32) / 255.0 for t in self.tiles(image)]
        stacked = (np.stack(arrays) - np.array(self._mean, np.float32)) / np.array(self._std, np.float32)
        return torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()

    def generate(
        self, loaded: Loaded, images: Sequence[Image.Image], prompts: Sequence[str], max_new_tokens: int
    ) -> list[Generation]:
        import torch

        per_image = [self.pixel_values(image) for image in self.prepare_images(images)]
        pixel_values = torch.cat(per_image).to(device=loaded.device, dtype=loaded.dtype)
        with torch.inference_mode():
            answers = loaded.model.batch_chat(
                loaded.processor,
                pixel_values,
                num_patches_list=[len(p) for p in per_image],
                questions=list(prompts),
                generation_config={"max_new_tokens": max_new_tokens, "do_sample": False},
            )
        # batch_chat returns text only: an answer as long as the limit was cut off.
        return [
            Generation(a, len(loaded.processor(a, add_special_tokens=False)["input_ids"]) >= max_new_tokens)
            for a in answers
        ]


class UnsupportedModel(ValueError):
    """The config names a model this backend cannot drive (or only with trust_remote_code)."""


_NATIVE: dict[str, type[Adapter]] = {
    "qwen2_vl": QwenVLAdapter,
    "qwen2_5_vl": QwenVLAdapter,
    "llava": LlavaAdapter,
    "llava_next": LlavaNextAdapter,
    "blip-2": Blip2Adapter,
    "florence2": Florence2Adapter,
    "internvl": InternVLAdapter,
    "idefics3": Idefics3Adapter,
    "smolvlm": SmolVLMAdapter,
}

#: model_types with a tested adapter, for messages and docs.
SUPPORTED_MODEL_TYPES = tuple(sorted({*_NATIVE, "blip", "internvl_chat (trust_remote_code)"}))


def _is_original_florence(config: dict[str, Any]) -> bool:
    # The original repos configure a DaViT vision tower and load through auto_map;
    # the native port (florence-community/*) does neither.
    vision_type = (config.get("vision_config") or {}).get("model_type")
    return vision_type == "davit" or ("auto_map" in config and vision_type != "florence_vision")


def adapter_for(config: dict[str, Any], *, trust_remote_code: bool = False) -> Adapter:
    """The adapter for a saved config, chosen by ``model_type`` (and, for BLIP, the head)."""
    model_type = config.get("model_type")
    if not model_type:
        raise UnsupportedModel("config.json has no model_type; is this a transformers model directory?")

    def needs_remote(what: str, native_hint: str = "") -> UnsupportedModel:
        return UnsupportedModel(
            f"{what} runs only with the repository's own code; pass trust_remote_code=True "
            f"(vlm_trust_remote_code in the config) if you trust it{native_hint}"
        )

    if model_type == "florence2" and _is_original_florence(config):
        if not trust_remote_code:
            raise needs_remote(
                "this Florence-2 checkpoint (the original microsoft/Florence-2-* layout)",
                ", or use the natively supported port, e.g. florence-community/Florence-2-base",
            )
        return Florence2RemoteAdapter(config)
    if model_type == "internvl_chat":
        if not trust_remote_code:
            raise needs_remote(
                "this InternVL checkpoint (model_type internvl_chat)",
                ", or use a natively supported '-hf' repo, e.g. OpenGVLab/InternVL3-1B-hf",
            )
        return InternVLChatRemoteAdapter(config)
    if model_type == "blip":
        if "BlipForQuestionAnswering" in (config.get("architectures") or []):
            return BlipVqaAdapter(config)
        return BlipAdapter(config)
    if model_type in _NATIVE:
        return _NATIVE[model_type](config)
    raise UnsupportedModel(
        f"VLM model_type {model_type!r} is not supported; supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
    )
