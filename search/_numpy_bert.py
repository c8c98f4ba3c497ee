"""A BERT sentence encoder in numpy: the query path without torch.

Embedding one query with sentence-transformers means importing torch,
transformers and sentence-transformers (seconds on a small machine) for a
few microseconds of arithmetic. A BERT encoder with mean pooling is six
matrix products per layer, so numpy runs it from the model's own
safetensors with the tokenizer's own ``tokenizer.json``: the same weights,
the same tokens, the same vectors (cosine > 0.99999 against
sentence-transformers; ``tests/integration/test_query_embedding.py``).

Only models sentence-transformers itself would run as Transformer (BERT) ->
mean Pooling -> Normalize are taken; ``load`` returns None for anything
else and the caller falls back to sentence-transformers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: The module chains this encoder reproduces, as modules.json names them
#: (picscribe always normalises, so a chain without Normalize gives the same vectors).
_TRANSFORMER_POOLING = ("sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling")
_SUPPORTED_CHAINS = {_TRANSFORMER_POOLING, (*_TRANSFORMER_POOLING, "sentence_transformers.models.Normalize")}


@dataclass(frozen=True)
class _Layer:
    """One encoder layer's weights, as torch's Linear stores them: (out, in)."""

    query: tuple[np.ndarray, np.ndarray]
    key: tuple[np.ndarray, np.ndarray]
    value: tuple[np.ndarray, np.ndarray]
    attention_out: tuple[np.ndarray, np.ndarray]
    attention_norm: tuple[np.ndarray, np.ndarray]
    intermediate: tuple[np.ndarray, np.ndarray]
    output: tuple[np.ndarray, np.ndarray]
    output_norm: tuple[np.ndarray, np.ndarray]


def load(model_dir: Path) -> NumpyBertEncoder | None:
    """The encoder for the sentence-transformers folder ``model_dir``, or None
    when it is not a mean-pooled, normalised BERT this module reproduces exactly."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        config = json.loads((model_dir / "config.json").read_text())
        chain = tuple(m["type"] for m in sorted(modules, key=lambda m: m["idx"]))
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith(".Pooling"))
        pooling = json.loads((model_dir / pooling_dir / "config.json").read_text())
        st_config = json.loads((model_dir / "sentence_bert_config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration, TypeError):
        return None
    pooled_by_mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
        pooling.get(k)
        for k in (
            "pooling_mode_cls_token",
            "pooling_mode_max_tokens",
            "pooling_mode_mean_sqrt_len_tokens",
            "pooling_mode_weightedmean_tokens",
            "pooling_mode_lasttoken",
        )
    )
    plain_bert = (
        config.get("model_type") == "bert"
        and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and not st_config.get("do_lower_case")  # ST would lower-case before the tokenizer
    )
    weights = model_dir / "model.safetensors"
    if chain not in _SUPPORTED_CHAINS or not pooled_by_mean_only or not plain_bert or not weights.is_file():
        return None
    if not (model_dir / "tokenizer.json").is_file():
        return None
    max_length = min(int(st_config.get("max_seq_length") or 512), int(config["max_position_embeddings"]))
    try:
        return NumpyBertEncoder(model_dir, config, max_length)
    except (OSError, ValueError, KeyError):
        return None  # weights in another dtype or layout: sentence-transformers reads those


class NumpyBertEncoder:
    def __init__(self, model_dir: Path, config: dict[str, object], max_length: int) -> None:
        from tokenizers import Tokenizer

        self._heads = int(str(config["num_attention_heads"]))
        self._eps = float(str(config["layer_norm_eps"]))
        self.dim = int(str(config["hidden_size"]))
        tensors = {k.removeprefix("bert."): v for k, v in read_safetensors(model_dir / "model.safetensors").items()}

        def linear(prefix: str) -> tuple[np.ndarray, np.ndarray]:
            return tensors[f"{prefix}.weight"], tensors[f"{prefix}.bias"]

        def norm(prefix: str) -> tuple[np.ndarray, np.ndarray]:
            return linear(f"{prefix}.LayerNorm")

        self._words = tensors["embeddings.word_embeddings.weight"]
        self._positions = tensors["embeddings.position_embeddings.weight"]
        self._token_types = tensors["embeddings.token_type_embeddings.weight"]
        self._embedding_norm = norm("embeddings")
        self._layers = [
            _Layer(
                query=linear(f"encoder.layer.{i}.attention.self.query"),
                key=linear(f"encoder.layer.{i}.attention.self.key"),
                value=linear(f"encoder.layer.{i}.attention.self.value"),
                attention_out=linear(f"encoder.layer.{i}.attention.output.dense"),
                attention_norm=norm(f"encoder.layer.{i}.attention.output"),
                intermediate=linear(f"encoder.layer.{i}.intermediate.dense"),
                output=linear(f"encoder.layer.{i}.output.dense"),
                output_norm=norm(f"encoder.layer.{i}.output"),
            )
            for i in range(int(str(config["num_hidden_layers"])))
        ]
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # As sentence-transformers calls the tokenizer: truncated to the model's max_seq_length.
        self._tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer.no_padding()
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0

    def encode(self, texts: list[str], max_batch_tokens: int = 4096) -> np.ndarray:
        """Unit-length float32 rows, one per text."""
        from threadpoolctl import threadpool_limits

        # One BLAS thread: a query's matrices are small, and OpenBLAS's
        # spin-waiting threads made a query 10-20x slower (25 ms -> 220-510 ms)
        # on 2 cores shared with other work.
        with threadpool_limits(limits=1, user_api="blas"):
            return self._encode_all(texts, max_batch_tokens)

    def _encode_all(self, texts: list[str], max_batch_tokens: int) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Longest first, in batches of about max_batch_tokens once padded: a
        # long text is padded with other long ones, not 63 short ones with it.
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        batch: list[int] = []
        for i in order:
            if batch and (len(batch) + 1) * len(encodings[batch[0]].ids) > max_batch_tokens:
                out[batch] = self._encode_batch([encodings[j].ids for j in batch])
                batch = []
            batch.append(i)
        if batch:
            out[batch] = self._encode_batch([encodings[j].ids for j in batch])
        return out

    def _encode_batch(self, token_ids: list[list[int]]) -> np.ndarray:
        batch, length = len(token_ids), max(len(t) for t in token_ids)
        ids = np.full((batch, length), self._pad_id, dtype=np.int64)
        mask = np.zeros((batch, length), dtype=np.float32)
        for row, tokens in enumerate(token_ids):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1.0
        # One sentence per text: every token type is 0.
        x = self._words[ids] + self._positions[:length][None] + self._token_types[0]
        x = self._layer_norm(x, self._embedding_norm)
        # Padding gets the most negative float32, as transformers does, so it takes no attention.
        attention_bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        head_dim = self.dim // self._heads
        scale = np.float32(1.0 / np.sqrt(head_dim))

        def heads(t: np.ndarray) -> np.ndarray:
            return t.reshape(batch, length, self._heads, head_dim).transpose(0, 2, 1, 3)

        for layer in self._layers:
            q, k, v = (heads(_linear(x, w)) for w in (layer.query, layer.key, layer.value))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + attention_bias
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, self.dim)
            x = self._layer_norm(_linear(context, layer.attention_out) + x, layer.attention_norm)
            hidden = _gelu(_linear(x, layer.intermediate))
            x = self._layer_norm(_linear(hidden, layer.output) + x, layer.output_norm)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        return (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def _layer_norm(self, x: np.ndarray, weight_bias: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        weight, bias = weight_bias
        return ((x - mean) / np.sqrt(var + self._eps)) * weight + bias


def _linear(x: np.ndarray, weight_bias: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    # W is (out, in); BLAS reads W.T in place, so the weights are never copied.
    weight, bias = weight_bias
    return x @ weight.T + bias


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The float32 tensors of a .safetensors file as read-only views of one
    memory map: nothing is copied, and only the pages a query touches (a few
    rows of the word embeddings) are read. ValueError for any other dtype."""
    with path.open("rb") as f:
        header_size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_size))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_size)
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        if info["dtype"] != "F32":
            if info["dtype"] == "I64" and name.endswith("position_ids"):
                continue  # a buffer transformers rebuilds; not a weight
            raise ValueError(f"{path}: {name} is {info['dtype']}, not float32")
        tensors[name] = data[begin:end].view(np.float32).reshape(info["shape"])
    return tensors


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x), with erf to 1.5e-7 (Abramowitz and Stegun 7.1.26):
    below float32's resolution at these magnitudes, and numpy has no erf."""
    z = x * np.float32(1 / np.sqrt(2))
    a = np.abs(z)
    t = 1.0 / (1.0 + np.float32(0.3275911) * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = np.sign(z) * (1.0 - poly.astype(np.float32) * np.exp(-a * a))
    return (0.5 * x * (1.0 + erf)).astype(np.float32)
