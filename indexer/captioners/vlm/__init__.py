"""The ``vlm`` backend: transformers vision-language models, one backend for every supported family.

Select it as ``--captioner vlm`` (the default model for the device) or
``--captioner vlm:MODEL``, where MODEL is a local model directory or a hub id,
optionally pinned: ``Qwen/Qwen2-VL-2B-Instruct@<commit>``.

Defaults: on CUDA ``Qwen/Qwen2-VL-2B-Instruct``; on CPU
``florence-community/Florence-2-base``, transformers' native port of
Florence-2-base (the original ``microsoft/Florence-2-base`` needs
``trust_remote_code=True``).

Families, detected from config.json's ``model_type`` (never the name):
Qwen2-VL, Qwen2.5-VL, LLaVA 1.5, LLaVA-NeXT, InternVL (native ``-hf``
repos), SmolVLM / Idefics3, Florence-2, BLIP-2 and BLIP. Original
InternVL2 (``internvl_chat``) and Florence-2 repos run their own code and
load only with ``trust_remote_code=True``.

Where the weights come from (decided in the constructor, which downloads
no weights):

1. an existing directory is used as is (``local:<dirname>@<hash>`` as model id);
2. a hub id found complete in the Hugging Face cache is used from there,
   with no network (``hf:<repo>@<commit>``);
3. otherwise, unless HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE is set or the hub
   is unreachable, its config.json is fetched and the weights download on
   first use;
4. else CaptionerUnavailable says which model is missing and how to get it,
   and ``--captioner auto`` falls back to the offline captioner.
"""

from ._captioner import DEFAULT_CPU_MODEL, DEFAULT_CUDA_MODEL, TransformersCaptioner
from ._families import SUPPORTED_MODEL_TYPES, UnsupportedModel

__all__ = [
    "DEFAULT_CPU_MODEL",
    "DEFAULT_CUDA_MODEL",
    "SUPPORTED_MODEL_TYPES",
    "TransformersCaptioner",
    "UnsupportedModel",
]
