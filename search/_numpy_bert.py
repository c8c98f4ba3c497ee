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

#: Tokens per batch. Small enough that a layer's activations (tokens x 1,536
#: floats in the feed-forward part: 3 MB) stay in cache between numpy's
#: elementwise passes (``python -m bench.embed_speed`` compares sizes).
MAX_BATCH_TOKENS = 512


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

    def encode(self, texts: list[str], max_batch_tokens: int = MAX_BATCH_TOKENS) -> np.ndarray:
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
        # Texts of one token length at a time, so nothing is padded: a text's
        # vector then depends on that text alone, to the bit, not on what
        # shared its batch (padding changes the order numpy sums in). Two
        # photos with one caption must tie, however they were batched.
        by_length: dict[int, list[int]] = {}
        for i, encoding in enumerate(encodings):
            by_length.setdefault(len(encoding.ids), []).append(i)
        for length, members in by_length.items():
            step = max(1, max_batch_tokens // length)
            for start in range(0, len(members), step):
                batch = members[start : start + step]
                out[batch] = self._encode_batch(np.array([encodings[j].ids for j in batch], dtype=np.int64))
        return out

    def _encode_batch(self, ids: np.ndarray) -> np.ndarray:
        """The vectors of a (batch, length) array of token ids, every row one whole text."""
        batch, length = ids.shape
        # One sentence per text: every token type is 0.
        x = self._words[ids] + self._positions[:length][None] + self._token_types[0]
        x = self._layer_norm(x, self._embedding_norm)
        head_dim = self.dim // self._heads
        scale = np.float32(1.0 / np.sqrt(head_dim))

        def heads(t: np.ndarray) -> np.ndarray:
            return t.reshape(batch, length, self._heads, head_dim).transpose(0, 2, 1, 3)

        for layer in self._layers:
            q, k, v = (heads(_linear(x, w)) for w in (layer.query, layer.key, layer.value))
            scores = q @ k.transpose(0, 1, 3, 2)
            scores *= scale
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores, out=scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, self.dim)
            x = self._layer_norm(_linear(context, layer.attention_out) + x, layer.attention_norm)
            hidden = _gelu(_linear(x, layer.intermediate))
            x = self._layer_norm(_linear(hidden, layer.output) + x, layer.output_norm)
        pooled = x.mean(axis=1)
        return (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def _layer_norm(self, x: np.ndarray, weight_bias: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        # In place on a fresh array, as _gelu: the same arithmetic in the same order, no temporaries.
        centred = x - x.mean(axis=-1, keepdims=True)
        deviation = np.square(centred).mean(axis=-1, keepdims=True)
        deviation += np.float32(self._eps)
        np.sqrt(deviation, out=deviation)
        centred /= deviation
        weight, bias = weight_bias
        centred *= weight
        centred += bias
        return centred


def _linear(x: np.ndarray, weight_bias: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    # W is (out, in); BLAS reads W.T in place, so the weights are never copied.
    weight, bias = weight_bias
    out = x @ weight.T
    out += bias  # in place: one array per product, not two
    return out


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


_INV_SQRT2 = np.float32(1 / np.sqrt(2))
_HALF = np.float32(0.5)
_ERF_P = np.float32(0.3275911)
#: Abramowitz and Stegun 7.1.26's polynomial, highest power first (Horner's order).
_ERF_A = tuple(np.float32(c) for c in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592))


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x), with erf to 1.5e-7 (Abramowitz and Stegun 7.1.26):
    below float32's resolution at these magnitudes, and numpy has no erf.

    Overwrites ``x`` (a fresh product of ``_linear``) and works in place in
    three buffers: written as plain expressions it made about 20 temporary
    arrays per call and took a third of a caption's embedding time (20.8 ms
    against 5.3 ms for 512 tokens of a layer, the same values to the bit)."""
    a = np.abs(x)
    a *= _INV_SQRT2  # |z|, z = x / sqrt(2)
    t = a * _ERF_P
    t += np.float32(1)
    np.reciprocal(t, out=t)
    p = t * _ERF_A[0]
    for coefficient in _ERF_A[1:]:
        p += coefficient
        p *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    p *= a
    p *= _HALF  # (1 - erf(|z|)) / 2
    np.subtract(_HALF, p, out=p)  # erf(|z|) / 2
    np.copysign(p, x, out=p)  # erf(z) / 2: erf is odd
    p += _HALF  # Phi(x)
    x *= p
    return x
