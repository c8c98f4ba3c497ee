"""Queries are embedded without torch (numpy, from the model's own weights and
tokenizer), and the vectors are the ones sentence-transformers gives, so a
query still lands next to captions that sentence-transformers embedded."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from picscribe.search import QueryEmbedder, SentenceTransformerEmbedder
from picscribe.search._numpy_bert import load
from picscribe.search.embedder import bundled_model_dir

_WORDS = (
    "a an the two three several dog dogs cat puppy horse giraffe zebra elephant bird pizza sandwich cake bowl "
    "plate fork bus train truck car bicycle motorcycle boat airplane stop sign traffic light street road beach "
    "ocean snow mountain forest kitchen bedroom table chair couch laptop phone clock vase umbrella kite surfboard "
    "skateboard skis man woman child people player crowd red blue green yellow white black old young small large "
    "sitting standing riding eating holding flying parked on in of with next to near under at by from through "
    "Paris NYC 2019 3 42 o'clock t-shirt don't 😀 🐶 ❤️ café naïve Zürich Ñandú São Paulo 東京 北京 Москва "
    "ÉCOLE HELLO !? ... -- , ; : ( ) / # @ & *"
).split()


def varied_queries(n: int, seed: int = 20) -> list[str]:
    """``n`` queries built from a fixed seed: one word to long run-ons, cased,
    punctuated, accented, non-Latin and emoji, a few past the model's 256
    tokens (truncation) and a few blank ones."""
    rng = random.Random(seed)
    queries = ["", " ", "a", "pizza on a plate", "a bus on the road", "stop sign"]
    while len(queries) < n:
        # Mostly the length people type; 1 in 200 past the 256-token limit.
        length = rng.choice([1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 24]) if rng.random() > 0.005 else rng.randint(200, 300)
        words = [rng.choice(_WORDS) for _ in range(length)]
        if rng.random() < 0.2:
            words = [w.upper() if rng.random() < 0.5 else w.capitalize() for w in words]
        queries.append(" ".join(words))
    return queries


@pytest.mark.slow
def test_query_vectors_match_sentence_transformers_on_1000_queries(model_cache: Path) -> None:
    queries = varied_queries(1000)
    assert len(set(queries)) > 950
    fast = QueryEmbedder(cache_dir=model_cache / "models")
    assert fast.backend == "numpy"  # else this would compare sentence-transformers with itself
    reference = SentenceTransformerEmbedder(cache_dir=model_cache / "models")
    ours, theirs = fast.embed(queries), reference.embed(queries)
    assert ours.shape == theirs.shape == (1000, 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosine = (ours * theirs).sum(axis=1)
    worst = int(cosine.argmin())
    assert cosine.min() >= 0.999, f"cosine {cosine.min():.6f} for {queries[worst]!r}"
    # One at a time (as search embeds) gives the same rows as a padded batch.
    for i in (0, 3, worst, 999):
        np.testing.assert_allclose(fast.embed([queries[i]])[0], ours[i], atol=1e-5)


def _bundled_copy(model_cache: Path, target: Path) -> Path:
    """The bundled model's folder, with its big files linked, not copied."""
    source = bundled_model_dir(model_cache / "models")
    assert source is not None
    shutil.copytree(source, target, copy_function=lambda s, d: Path(d).symlink_to(s))
    return target


def test_a_model_numpy_does_not_reproduce_falls_back_to_sentence_transformers(
    model_cache: Path, tmp_path: Path
) -> None:
    model = _bundled_copy(model_cache, tmp_path / "cls-pooled")
    pooling = model / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    pooling.unlink()  # a link to the shared cache: replace it, never write through it
    pooling.write_text(json.dumps({**config, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    assert load(model) is None
    embedder = QueryEmbedder(str(model), cache_dir=model_cache / "models")
    assert embedder.backend == "sentence-transformers"
    expected = SentenceTransformerEmbedder(str(model), cache_dir=model_cache / "models").embed(["a red bus"])
    np.testing.assert_allclose(embedder.embed(["a red bus"]), expected, atol=1e-6)


def test_a_local_copy_of_the_model_takes_the_numpy_path_too(model_cache: Path, tmp_path: Path) -> None:
    model = _bundled_copy(model_cache, tmp_path / "minilm")
    embedder = QueryEmbedder(str(model), cache_dir=model_cache / "models")
    assert embedder.backend == "numpy" and embedder.dim == 384
    assert embedder.embed([]).shape == (0, 384)
    bundled = QueryEmbedder(cache_dir=model_cache / "models").embed(["two dogs on a beach"])
    np.testing.assert_allclose(embedder.embed(["two dogs on a beach"]), bundled, atol=1e-6)
