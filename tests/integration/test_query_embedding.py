"""Queries and captions are embedded without torch (numpy, from the model's own
weights and tokenizer), and the vectors are the ones sentence-transformers
gives, so a query lands next to captions that either path embedded (an index
built before captions moved to numpy included)."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pytest
from support.embedder_models import bundled_copy, cls_pooled_copy

from picscribe.search import SentenceEmbedder, SentenceTransformerEmbedder
from picscribe.search._numpy_bert import load

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
    fast = SentenceEmbedder(cache_dir=model_cache / "models")
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


def descriptions(n: int, seed: int = 18) -> list[str]:
    """``n`` caption-like texts as long as the offline captioner's descriptions
    with their tags (30 to 150 words, a few past 256 tokens), from a fixed seed."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        sentences = [
            " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 14))).capitalize() + "."
            for _ in range(rng.randint(3, 12))
        ]
        texts.append(" ".join(sentences) + " Tags: " + ", ".join(rng.sample(_WORDS, 8)))
    return texts


@pytest.mark.slow
def test_caption_vectors_match_sentence_transformers_on_long_descriptions(model_cache: Path) -> None:
    texts = descriptions(200)
    fast = SentenceEmbedder(cache_dir=model_cache / "models")
    assert fast.backend == "numpy"
    ours = fast.embed(texts)
    theirs = SentenceTransformerEmbedder(cache_dir=model_cache / "models").embed(texts)
    cosine = (ours * theirs).sum(axis=1)
    worst = int(cosine.argmin())
    assert cosine.min() >= 0.999, f"cosine {cosine.min():.6f} for {texts[worst]!r}"
    # One at a time, or in any other company: the same rows to the bit, so two
    # photos with one caption tie however the indexer batched them.
    for i in (0, worst, 199):
        np.testing.assert_array_equal(fast.embed([texts[i]])[0], ours[i])
    np.testing.assert_array_equal(fast.embed(texts[::-7]), ours[::-7])


def test_a_model_numpy_does_not_reproduce_falls_back_to_sentence_transformers(
    model_cache: Path, tmp_path: Path
) -> None:
    model = cls_pooled_copy(model_cache, tmp_path / "cls-pooled")
    assert load(model) is None
    embedder = SentenceEmbedder(str(model), cache_dir=model_cache / "models")
    assert embedder.backend == "sentence-transformers"
    expected = SentenceTransformerEmbedder(str(model), cache_dir=model_cache / "models").embed(["a red bus"])
    np.testing.assert_allclose(embedder.embed(["a red bus"]), expected, atol=1e-6)


def test_a_local_copy_of_the_model_takes_the_numpy_path_too(model_cache: Path, tmp_path: Path) -> None:
    model = bundled_copy(model_cache, tmp_path / "minilm")
    embedder = SentenceEmbedder(str(model), cache_dir=model_cache / "models")
    assert embedder.backend == "numpy" and embedder.dim == 384
    assert embedder.embed([]).shape == (0, 384)
    bundled = SentenceEmbedder(cache_dir=model_cache / "models").embed(["two dogs on a beach"])
    np.testing.assert_allclose(embedder.embed(["two dogs on a beach"]), bundled, atol=1e-6)


def test_a_loaded_embedder_travels_without_its_weights(model_cache: Path) -> None:
    """As the Ray engine ships the index's embedder to its workers."""
    embedder = SentenceEmbedder(cache_dir=model_cache / "models")
    vector = embedder.embed(["two dogs on a beach"])
    shipped = pickle.dumps(embedder)
    assert len(shipped) < 10_000
    arrived = pickle.loads(shipped)
    assert arrived.backend == "numpy"
    np.testing.assert_array_equal(arrived.embed(["two dogs on a beach"]), vector)
