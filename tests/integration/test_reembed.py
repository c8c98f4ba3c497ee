"""`picscribe reembed` moves an index to another embedder from its stored
captions: no captioner runs and no photo is read, the index is bound to the
new model, and an interrupted run leaves search on the old vectors.

The new model is the bundled MiniLM under an e5-style folder name (so it
embeds captions with e5's passage prompt): a different embedder by name and
by vectors, with no hub."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.cli import Run, index_json

from picscribe.indexer import FakeCaptioner
from picscribe.indexer.reembed import reembed, text_to_embed
from picscribe.search import DEFAULT_EMBEDDER, SentenceTransformerEmbedder
from picscribe.search.embedder import bundled_model_dir
from picscribe.store import Store


@pytest.fixture
def e5_named(tmp_path: Path, model_cache: Path) -> str:
    minilm = bundled_model_dir(model_cache / "models")
    assert minilm is not None
    link = tmp_path / "e5-test-copy"
    link.symlink_to(minilm, target_is_directory=True)
    return str(link)


def _vectors(home: Path) -> dict[str, dict[int, np.ndarray]]:
    """Every stored vector, by embedder, then caption id."""
    out: dict[str, dict[int, np.ndarray]] = {}
    with sqlite3.connect(home / "index.sqlite") as db:
        for cid, embedder, blob in db.execute("SELECT caption_id, embedder, vector FROM embeddings"):
            out.setdefault(embedder, {})[cid] = np.frombuffer(blob, dtype=np.float32)
    return out


def _no_captioning(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("reembed must not caption or read a photo")

    monkeypatch.setattr(FakeCaptioner, "caption", refuse)
    monkeypatch.setattr(Image, "open", refuse)


def test_reembed_switches_the_index_without_captioning(
    run: Run, photos: Path, home: Path, e5_named: str, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert index_json(run, str(photos))[0] == 0
    before = _vectors(home)
    assert set(before) == {DEFAULT_EMBEDDER}
    with Store.open(home) as store:
        stored = store.captions_to_reembed(e5_named, limit=1000)
    assert {c.caption_id for c in stored} == set(before[DEFAULT_EMBEDDER])

    with monkeypatch.context() as patched:
        _no_captioning(patched)
        result = run("reembed", "--embedder", e5_named, "--json")
        status = json.loads(run("status", "--json").stdout)
        hits = json.loads(run("search", "a photo", "--json").stdout)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report == {**report, "embedder": e5_named, "previous": DEFAULT_EMBEDDER, "switched": True}
    assert report["embedded"] == len(stored)

    # One model's vectors at rest, each from the text indexing embedded, as a passage.
    after = _vectors(home)
    assert set(after) == {e5_named} and set(after[e5_named]) == set(before[DEFAULT_EMBEDDER])
    minilm = SentenceTransformerEmbedder(cache_dir=model_cache / "models")
    texts = [text_to_embed(c) for c in stored]
    old = np.stack([before[DEFAULT_EMBEDDER][c.caption_id] for c in stored])
    new = np.stack([after[e5_named][c.caption_id] for c in stored])
    assert ((minilm.embed(texts) * old).sum(axis=1) > 0.9999).all()  # the same text the indexer embedded
    assert ((minilm.embed([f"passage: {t}" for t in texts]) * new).sum(axis=1) > 0.9999).all()

    # The index is bound to the new model: search and status use it with no setting...
    assert status["embedder"] == e5_named
    assert hits
    # ...and indexing with the old one is refused, naming the way there.
    refused = run("index", str(photos), "--captioner", "fake")
    assert refused.exit_code == 1 and "reembed" in refused.output
    monkeypatch.setenv("PICSCRIBE_EMBEDDER", e5_named)
    assert index_json(run, str(photos))[0] == 0


def test_an_interrupted_reembed_keeps_search_on_the_old_vectors_and_resumes(
    run: Run, photos: Path, home: Path, e5_named: str, model_cache: Path
) -> None:
    assert index_json(run, str(photos))[0] == 0
    new = SentenceTransformerEmbedder(e5_named, cache_dir=model_cache / "models")
    with Store.open(home) as store:
        first = store.captions_to_reembed(new.name, limit=2)
        store.write_reembedded(new.name, [c.caption_id for c in first], new.embed([text_to_embed(c) for c in first]))
        # Killed here: the index is still MiniLM's, whole, and cannot switch yet.
        assert store.embedder_name == DEFAULT_EMBEDDER
        assert not store.switch_embedder(new.name, new.dim)
        assert len(store.vector_index()) == 6
        left = len(store.captions_to_reembed(new.name, limit=1000))
        report = reembed(store, new)
        assert report.switched and report.embedded == left
        assert store.embedder_name == new.name and len(store.vector_index()) == 6
    assert set(_vectors(home)) == {new.name}
