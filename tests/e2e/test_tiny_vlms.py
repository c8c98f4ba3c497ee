"""Self-test of tests/tiny_vlms.py: every tiny model family loads back through
the same calls a user's hub model goes through and generates for a batch of
two differently sized images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.tiny_vlms import (
    EXTRA_PROCESSOR_PACKAGES,
    FAMILIES,
    HAS_CHAT_TEMPLATE,
    NEEDS_TORCHVISION,
    build_tiny_vlm,
)

pytestmark = [pytest.mark.usefixtures("torch_single_thread"), pytest.mark.models]

NEW_TOKENS = 4
PROMPT = "Describe this image."
# Families without a chat template take a plain prompt (their real usage).
PLAIN_PROMPTS = {
    "blip": "a photography of",  # BLIP conditional captioning
    "blip2": "Question: what is in the picture? Answer:",  # BLIP-2 OPT VQA format
    "florence2": "<CAPTION>",  # Florence-2 task token; the processor expands it
}
# The image placeholder each family's chat template writes.
IMAGE_TOKEN = {
    "qwen2_vl": "<|image_pad|>",
    "qwen2_5_vl": "<|image_pad|>",
    "llava": "<image>",
    "llava_next": "<image>",
    "internvl": "<IMG_CONTEXT>",
    "smolvlm": "<image>",
}


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), "RGB"),
        Image.fromarray(rng.integers(0, 256, (56, 40, 3), dtype=np.uint8), "RGB"),
    ]


def _conversation() -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": PROMPT}]}]


def _torchvision_available() -> bool:
    from transformers.utils import is_torchvision_available

    return is_torchvision_available()


def _check_generation(family: str, model, tokenizer, inputs, out) -> None:
    """Shape and decoding checks shared by both input paths."""
    assert out.shape[0] == 2
    if family == "florence2":  # encoder-decoder: decoder_start + new tokens
        start = 1
    elif family == "blip":  # BLIP drops the prompt's trailing [SEP]
        start = inputs["input_ids"].shape[1] - 1
    else:  # decoder-only: the (left-padded) prompt, then new tokens
        start = inputs["input_ids"].shape[1]
    # the builder silences special tokens, so generation always runs to the limit
    assert out.shape[1] == start + NEW_TOKENS
    new = tokenizer.batch_decode(out[:, start:], skip_special_tokens=True)
    assert len(new) == 2
    assert all(isinstance(text, str) and text.strip() for text in new)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_repo_layout(family: str, tiny_vlm) -> None:
    path: Path = tiny_vlm(family)
    names = {p.name for p in path.iterdir()}
    assert {
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "preprocessor_config.json",
        "processor_config.json",
    } <= names
    assert ("chat_template.jinja" in names) == (family in HAS_CHAT_TEMPLATE)
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"][0].endswith("ForConditionalGeneration")

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if family in IMAGE_TOKEN:  # the config's image token id is the tokenizer's
        key = "image_token_index" if family.startswith("llava") else "image_token_id"
        assert config[key] == tokenizer.convert_tokens_to_ids(IMAGE_TOKEN[family])


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_processor_and_generate(family: str, tiny_vlm) -> None:
    """The user's path: AutoProcessor + AutoModelForImageTextToText."""
    if family in NEEDS_TORCHVISION and not _torchvision_available():
        pytest.skip(f"{family}'s processor has a video processor, which needs torchvision")
    for package in EXTRA_PROCESSOR_PACKAGES.get(family, ()):
        pytest.importorskip(package, reason=f"{family}'s processor imports {package}")
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path = tiny_vlm(family)
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path)
    assert type(model).__name__ == json.loads((path / "config.json").read_text())["architectures"][0]

    images = _images()
    if family in HAS_CHAT_TEMPLATE:
        prompts = processor.apply_chat_template([_conversation()] * 2, add_generation_prompt=True)
        assert all(IMAGE_TOKEN[family] in p for p in prompts)
        processor.tokenizer.padding_side = "left"  # decoder-only batch
        batch_images = [[image] for image in images] if family == "smolvlm" else images
        inputs = processor(images=batch_images, text=prompts, padding=True, return_tensors="pt")
        assert inputs["attention_mask"][:, -1].all()  # left padded
    else:
        text = [PLAIN_PROMPTS[family]] * 2
        inputs = processor(images=images, text=text, padding=True, return_tensors="pt")

    out = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False)
    _check_generation(family, model, processor.tokenizer, inputs, out)
    assert all(isinstance(t, str) for t in processor.batch_decode(out, skip_special_tokens=True))


@pytest.mark.parametrize("family", sorted(NEEDS_TORCHVISION))
def test_processor_without_torchvision_fails(family: str, tiny_vlm) -> None:
    """Documents the transformers 5.x limitation the skip above is about."""
    if _torchvision_available():
        pytest.skip("torchvision is installed")
    from transformers import AutoProcessor

    with pytest.raises((ImportError, ValueError), match="[Tt]orchvision"):
        AutoProcessor.from_pretrained(tiny_vlm(family))


def _inputs_without_processor(family: str, path: Path, images: list[Image.Image]):
    """Model inputs from AutoTokenizer + AutoImageProcessor (PIL backend), with
    the image placeholder expanded the way the family's processor does."""
    from transformers import AutoImageProcessor, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    image_processor = AutoImageProcessor.from_pretrained(path)
    processor_config = json.loads((path / "processor_config.json").read_text())
    prompt = tokenizer.apply_chat_template(_conversation(), add_generation_prompt=True, tokenize=False)
    assert isinstance(prompt, str)  # tokenize=False: the prompt as text
    token = IMAGE_TOKEN[family]
    if family in ("qwen2_vl", "qwen2_5_vl"):
        pixels = image_processor(images=images, return_tensors="pt")
        counts = (pixels["image_grid_thw"].prod(-1) // image_processor.merge_size**2).tolist()
        texts = [prompt.replace(token, token * n) for n in counts]
    elif family == "internvl":
        pixels = image_processor(images=images, crop_to_patches=True, return_tensors="pt")
        patches = pixels.pop("num_patches").tolist()
        per_patch = processor_config["image_seq_length"]
        texts = [prompt.replace(token, "<img>" + token * per_patch * n + "</img>") for n in patches]
    elif family == "smolvlm":
        from transformers.models.smolvlm.processing_smolvlm import get_image_prompt_string

        pixels = image_processor(images=[[image] for image in images], return_row_col_info=True, return_tensors="pt")
        rows, cols = pixels.pop("rows"), pixels.pop("cols")
        texts = [
            prompt.replace(
                token,
                get_image_prompt_string(
                    r[0],
                    c[0],
                    processor_config["image_seq_len"],
                    fake_token_around_image="<fake_token_around_image>",
                    image_token=token,
                    global_image_token="<global-img>",
                ),
            )
            for r, c in zip(rows, cols, strict=True)
        ]
    else:
        raise AssertionError(family)
    tokenizer.padding_side = "left"
    text_inputs = tokenizer(texts, padding=True, return_tensors="pt")
    return tokenizer, {**text_inputs, **pixels}


@pytest.mark.parametrize("family", sorted(NEEDS_TORCHVISION))
def test_model_generates_without_processor(family: str, tiny_vlm) -> None:
    """Checks the weights/config of the torchvision-bound families here too,
    feeding the model from the tokenizer and the PIL image processor."""
    from transformers import AutoModelForImageTextToText

    path = tiny_vlm(family)
    tokenizer, inputs = _inputs_without_processor(family, path, _images())
    assert inputs["attention_mask"][:, -1].all()
    model = AutoModelForImageTextToText.from_pretrained(path)
    out = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False)
    _check_generation(family, model, tokenizer, inputs, out)


@pytest.mark.parametrize("family", ["blip", "blip2", "florence2"])
def test_unconditional_captioning(family: str, tiny_vlm) -> None:
    """Images only, no text: how BLIP/BLIP-2 usually caption (Florence-2 logs
    that it got no task prompt and uses an empty one)."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path = tiny_vlm(family)
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path)
    inputs = processor(images=_images(), return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False)
    assert out.shape[0] == 2
    texts = processor.batch_decode(out, skip_special_tokens=True)
    assert all(isinstance(t, str) and t.strip() for t in texts)


def test_builds_are_deterministic(tmp_path: Path) -> None:
    a = build_tiny_vlm("llava", tmp_path / "a")
    b = build_tiny_vlm("llava", tmp_path / "b")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_unknown_family(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown family"):
        build_tiny_vlm("gpt-vision-9000", tmp_path)
